package httpapi

import (
	"log"
	"net"
	"net/http"
	"time"

	"github.com/strata-cache/strata/internal/telemetry"
)

// DefaultMaxHeaderBytes bounds the request line and headers when
// ServerOptions.MaxHeaderBytes is 0. It leaves room for the longest key
// (cache.max_key_size, 64 KiB by default) percent-encoded at three bytes per
// byte, plus ordinary headers.
const DefaultMaxHeaderBytes = 256 << 10

// ServerOptions configures the http.Server that NewServer builds. Zero
// values mean the documented defaults, not "no limit", except where said.
type ServerOptions struct {
	// ReadHeaderTimeout bounds the time to read the request line and
	// headers, the defence against slow-header (slowloris) clients. 0 means
	// no limit.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a whole request, body included.
	// 0 means no limit (a large PUT on a slow link may take a while).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time to write a response. 0 means no limit.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. 0 means no
	// limit.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus headers; a request over
	// it gets 431 Request Header Fields Too Large from net/http (plain text,
	// before the handler runs). Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ErrorLog receives net/http's own errors (TLS handshakes, malformed
	// requests). Nil uses the standard logger.
	ErrorLog *log.Logger
}

// NewServer returns an http.Server that serves api with the limits in
// opts. The caller sets Addr or calls Serve with a listener, and owns
// Shutdown. When api's Metrics also keeps connection series (as
// *telemetry.Metrics does), the server counts its connections in
// strata_connected_clients{proto="http"} and
// strata_connections_received_total{proto="http"}.
func NewServer(api *API, opts ServerOptions) *http.Server {
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	s := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          opts.ErrorLog,
	}
	if m, ok := api.metrics.(connMetrics); ok {
		cm := m.Conn(telemetry.ProtoHTTP)
		s.ConnState = func(_ net.Conn, st http.ConnState) {
			// New is the first state of every connection and Closed or
			// Hijacked the last; nothing hijacks here, but count it anyway
			// so the gauge cannot drift.
			switch st {
			case http.StateNew:
				cm.Received.Inc()
				cm.Connected.Inc()
			case http.StateClosed, http.StateHijacked:
				cm.Connected.Dec()
			}
		}
	}
	return s
}
