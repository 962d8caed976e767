package node_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/testenv/tlscert"

	"github.com/strata-cache/strata/internal/node/nodetest"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/gateway"
	"github.com/strata-cache/strata/internal/node"
)

func startGatewayNode(t *testing.T, cfg config.Config) *node.Node {
	t.Helper()
	return nodetest.Start(t, cfg, nil)
}

// TestTLSReloadKeepsConnections serves both listeners over TLS, reloads a
// renewed certificate as SIGHUP does, and checks that new handshakes get
// the new certificate while a connection made before keeps working.
func TestTLSReloadKeepsConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlscert.Write(t, certFile, keyFile, "first")
	const key = "sk_node-test"
	cfg := config.Default()
	cfg.RESP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS = config.TLSConfig{CertFile: certFile, KeyFile: keyFile}
	cfg.Gateway.Keys = []config.KeyConfig{{Name: "app", Hash: gateway.HashKey(key), Scopes: []string{"read", "write"}}}
	n := startGatewayNode(t, cfg)
	hup := make(chan os.Signal, 1)
	n.ReloadOn(hup)

	tlsConf := &tls.Config{InsecureSkipVerify: true} // self-signed; the test checks the CN
	dial := func() (*tls.Conn, string) {
		c, err := tls.Dial("tcp", n.RESPAddr(), tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	do := func(c *tls.Conn, br *bufio.Reader, cmd string) string {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, cmd); err != nil {
			t.Fatal(err)
		}
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	old, cn := dial()
	if cn != "first" {
		t.Fatalf("CN %q", cn)
	}
	oldBR := bufio.NewReader(old)
	if got := do(old, oldBR, "PING\r\n"); got != "-NOAUTH Authentication required." {
		t.Fatalf("PING before AUTH over TLS: %q", got)
	}
	if got := do(old, oldBR, "AUTH "+key+"\r\n"); got != "+OK" {
		t.Fatalf("AUTH over TLS: %q", got)
	}

	tlscert.Write(t, certFile, keyFile, "second")
	hup <- os.Interrupt // any value: the node reloads on each
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, cn := dial()
		if cn == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q after the reload", cn)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := do(old, oldBR, "PING\r\n"); got != "+PONG" {
		t.Fatalf("the connection made before the reload: %q", got)
	}

	// HTTP is on TLS too, and a reload of a broken file keeps the old one.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + n.HTTPAddr() + "/livez")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].Subject.CommonName != "second" {
		t.Fatalf("HTTPS /livez: %d", resp.StatusCode)
	}
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.Reload(); err == nil {
		t.Fatal("Reload of a broken certificate succeeded")
	}
	if _, cn := dial(); cn != "second" {
		t.Fatalf("after a failed reload: %q", cn)
	}
}

func TestProtectedMode(t *testing.T) {
	cfg := config.Default()
	cfg.RESP.Addr, cfg.HTTP.Addr = "0.0.0.0:0", ""
	n, err := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); !errors.Is(err, gateway.ErrProtectedMode) {
		t.Fatalf("Start on 0.0.0.0 without keys: %v, want protected mode", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)

	cfg.Gateway.ProtectedMode = false
	startGatewayNode(t, cfg)
}
