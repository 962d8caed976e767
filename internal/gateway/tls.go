package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// CertReloader serves a TLS certificate loaded from files and reloads it
// on demand, so that a renewed certificate takes effect on SIGHUP without a
// restart. Handshakes after a successful Reload use the new certificate;
// connections already established keep theirs, since a certificate is
// only consulted during the handshake. It is safe for concurrent use.
type CertReloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// NewCertReloader loads certFile (PEM chain, leaf first) and keyFile (PEM
// private key) and returns a reloader serving them.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads both files again and, if they load, swaps the served
// certificate atomically. On failure the previous certificate stays in
// service and the error names the file at fault.
func (r *CertReloader) Reload() error {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return fmt.Errorf("strata: tls: reading certificate (tls.cert_file): %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return fmt.Errorf("strata: tls: reading key (tls.key_file): %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("strata: tls: certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil {
		// Go 1.23+ fills Leaf; parse it otherwise, for Expiry.
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("strata: tls: certificate %s: %w", r.certFile, err)
		}
	}
	r.cur.Store(&cert)
	return nil
}

// GetCertificate returns the current certificate, for
// tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Expiry returns when the current certificate expires (its NotAfter),
// for a metric or a start-up log line.
func (r *CertReloader) Expiry() time.Time {
	return r.cur.Load().Leaf.NotAfter
}

// TLSConfig returns a server configuration that serves the reloader's
// certificate, with TLS 1.2 as the minimum version. Pass it to
// tls.NewListener for RESP, or set it as http.Server.TLSConfig.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
	}
}
