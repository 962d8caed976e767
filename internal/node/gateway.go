package node

import (
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/strata-cache/strata/internal/gateway"
)

// initGateway builds the node's gateway from gateway.* and, when
// tls.cert_file and tls.key_file are set, the certificate reloader both
// listeners use.
func (n *Node) initGateway() error {
	gw, err := gateway.New(n.cfg.Gateway, gateway.Options{})
	if err != nil {
		return err
	}
	n.gw = gw
	if n.cfg.TLS.Enabled() {
		if n.certs, err = gateway.NewCertReloader(n.cfg.TLS.CertFile, n.cfg.TLS.KeyFile); err != nil {
			return err
		}
		n.tlsConfig = n.certs.TLSConfig()
	}
	n.reloadStop = make(chan struct{})
	return nil
}

// checkListen enforces protected mode before anything is bound, and says
// at start-up which mode the gateway is in.
func (n *Node) checkListen() error {
	if err := n.gw.CheckListen(n.cfg.RESP.Addr, n.cfg.HTTP.Addr); err != nil {
		return err
	}
	switch {
	case n.gw.Required():
		n.log.Info("gateway: API keys required on both listeners",
			slog.String("gateway.keys", strings.Join(n.gw.Principals(), ",")))
	case n.cfg.Gateway.ProtectedMode:
		n.log.Info("gateway: no API keys configured, so every client has every scope; " +
			"protected mode keeps the listeners on loopback (configure gateway.keys to listen elsewhere)")
	default:
		n.log.Warn("gateway: no API keys configured and protected mode is off: " +
			"anyone who can reach the listeners can read and write every key")
	}
	if n.certs != nil {
		n.log.Info("tls: serving both listeners over TLS; SIGHUP reloads the certificate",
			slog.String("tls.cert_file", n.cfg.TLS.CertFile),
			slog.Time("tls.not_after", n.certs.Expiry()))
	}
	return nil
}

// wrapTLS returns ln serving TLS with the reloader's certificate when TLS
// is configured, else ln itself. nil stays nil.
func (n *Node) wrapTLS(ln net.Listener) net.Listener {
	if ln == nil || n.tlsConfig == nil {
		return ln
	}
	return tls.NewListener(ln, n.tlsConfig)
}

// Reload re-reads what can change without a restart: the TLS certificate
// and key. Handshakes after it use the new certificate; established
// connections are not touched. On failure the old certificate stays in
// service and the error says why. Without TLS it does nothing.
func (n *Node) Reload() error {
	if n.certs == nil {
		n.log.Info("reload: nothing to reload (no tls.cert_file configured)")
		return nil
	}
	if err := n.certs.Reload(); err != nil {
		n.log.Error("reload: keeping the previous certificate", slog.String("error.message", err.Error()))
		return err
	}
	n.log.Info("reload: TLS certificate reloaded",
		slog.String("tls.cert_file", n.cfg.TLS.CertFile),
		slog.Time("tls.not_after", n.certs.Expiry()))
	return nil
}

// ReloadOn calls Reload for every value received on signals (the caller
// subscribes it to SIGHUP) until Shutdown, which stops the goroutine and
// waits for it. Call it at most once, after Start.
func (n *Node) ReloadOn(signals <-chan os.Signal) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case <-signals:
				_ = n.Reload() // logged
			case <-n.reloadStop:
				return
			}
		}
	}()
}

// stopReload ends the ReloadOn goroutine; Shutdown calls it once.
func (n *Node) stopReload() { close(n.reloadStop) }

// Gateway returns the node's gateway.
func (n *Node) Gateway() *gateway.Gateway { return n.gw }
