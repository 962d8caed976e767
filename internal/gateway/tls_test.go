package gateway

import (
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/testenv/tlscert"
)

// writeCert writes a new self-signed certificate for 127.0.0.1 named cn to
// dir/cert.pem and dir/key.pem, and returns the paths.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlscert.Write(t, certFile, keyFile, cn)
	return certFile, keyFile
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedCN returns the common name of the certificate r serves.
func servedCN(t *testing.T, r *CertReloader) string {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.Subject.CommonName
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, "first")
	r, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, r); cn != "first" {
		t.Fatalf("serving %q", cn)
	}
	if time.Until(r.Expiry()) < 30*time.Minute {
		t.Errorf("Expiry() = %v", r.Expiry())
	}

	// A real TLS connection made before the reload survives it.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	dial := func() (*tls.Conn, string) {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		return c, c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	before, cn := dial()
	defer before.Close()
	if cn != "first" {
		t.Fatalf("handshake served %q", cn)
	}

	writeCert(t, dir, "second")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, r); cn != "second" {
		t.Fatalf("after Reload serving %q", cn)
	}
	after, cn := dial()
	defer after.Close()
	if cn != "second" {
		t.Fatalf("new handshake after Reload served %q", cn)
	}
	echo := func(c *tls.Conn) {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo %q, %v", buf, err)
		}
	}
	echo(before) // the old connection was not dropped
	echo(after)

	// A bad certificate file keeps the old certificate and names the file.
	writeFile(t, certFile, []byte("not a certificate"))
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("Reload(bad cert) = %v, want an error naming %s", err, certFile)
	}
	if cn := servedCN(t, r); cn != "second" {
		t.Fatalf("after a failed Reload serving %q, want the previous certificate", cn)
	}
	// So does a missing key file.
	writeCert(t, dir, "third")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), keyFile) || !strings.Contains(err.Error(), "tls.key_file") {
		t.Fatalf("Reload(missing key) = %v, want an error naming %s", err, keyFile)
	}
	if cn := servedCN(t, r); cn != "second" {
		t.Fatalf("after a failed Reload serving %q", cn)
	}
}

func TestCertReloaderMismatch(t *testing.T) {
	certA, _ := writeCert(t, t.TempDir(), "a")
	_, keyB := writeCert(t, t.TempDir(), "b")
	_, err := NewCertReloader(certA, keyB)
	if err == nil || !strings.Contains(err.Error(), certA) || !strings.Contains(err.Error(), keyB) {
		t.Fatalf("NewCertReloader(mismatched) = %v", err)
	}
}

// TestCertReloaderConcurrent reloads while handshakes read the
// certificate; run with -race.
func TestCertReloaderConcurrent(t *testing.T) {
	dir := t.TempDir()
	r, err := NewCertReloader(writeCert(t, dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			if c, _ := r.GetCertificate(nil); c == nil {
				t.Error("nil certificate")
				return
			}
		}
	}()
	for range 20 {
		if err := r.Reload(); err != nil {
			t.Error(err)
		}
	}
	<-done
}
