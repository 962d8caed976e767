package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries ClientIP
// examines, so a hostile header costs bounded work.
const maxForwardedHops = 32

// ClientIP returns the address of the client behind a request that
// arrived from remoteAddr ("host:port", as net/http and net.Conn report
// it) with the X-Forwarded-For value xff (several headers joined with
// ","). It believes xff only if the peer is a trusted proxy
// (gateway.trusted_proxies): then it walks the list from the right,
// skipping trusted hops, and returns the first address that is not
// trusted, since everything to its left was written by the client itself.
// If every hop is trusted it returns the leftmost. A malformed entry ends
// the walk, and the last hop known to be good is returned. The result is a
// canonical IP address (IPv4-mapped IPv6 unmapped); if remoteAddr holds no
// IP address, its host part is returned unchanged.
func (g *Gateway) ClientIP(remoteAddr, xff string) string {
	peerHost := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		peerHost = h
	}
	peer, err := netip.ParseAddr(peerHost)
	if err != nil {
		return peerHost
	}
	peer = peer.Unmap().WithZone("")
	if !g.trusts(peer) {
		return peer.String()
	}
	client := peer
	rest := xff
	for range maxForwardedHops {
		if strings.TrimSpace(rest) == "" {
			break
		}
		entry := rest
		rest = ""
		if i := strings.LastIndexByte(entry, ','); i >= 0 {
			entry, rest = entry[i+1:], entry[:i]
		}
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue // "a, , b" or a trailing comma: no hop
		}
		a, ok := parseHop(entry)
		if !ok {
			break
		}
		client = a
		if !g.trusts(a) {
			break
		}
	}
	return client.String()
}

// ClientIPFromRequest is ClientIP for an HTTP request: its RemoteAddr and
// every X-Forwarded-For header it carries, in order.
func (g *Gateway) ClientIPFromRequest(r *http.Request) string {
	return g.ClientIP(r.RemoteAddr, strings.Join(r.Header.Values("X-Forwarded-For"), ","))
}

// trusts reports whether a is within a trusted proxy prefix.
func (g *Gateway) trusts(a netip.Addr) bool {
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop parses one X-Forwarded-For entry: an IP address, possibly with
// a port ("1.2.3.4:5678", "[::1]:5678"), as some proxies write.
func parseHop(s string) (netip.Addr, bool) {
	// Zones are dropped: they are meaningless off the host and free text
	// that would otherwise reach the logs.
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
