package nginx_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/strata-cache/strata/internal/testenv/nginx"
)

func TestProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	defer backend.Close()

	srv := nginx.New(t, nginx.Options{Upstreams: []string{backend.Listener.Addr().String()}})
	if host, _, _ := net.SplitHostPort(srv.Addr()); host != "127.0.0.1" {
		t.Fatalf("Addr = %s; want 127.0.0.1", srv.Addr())
	}
	for range 3 { // keepalive connections to the upstream are reused
		resp, err := http.Get(srv.URL() + "/v1/kv/a")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello from /v1/kv/a" {
			t.Fatalf("GET through nginx: %d %q", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Server"); len(got) < 5 || got[:5] != "nginx" {
			t.Fatalf("Server header %q; the request did not go through nginx", got)
		}
	}
}
