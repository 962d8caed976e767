package prometheus_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/testenv/prometheus"
)

func TestScrapeAndQuery(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "# TYPE strata_testenv_up gauge\nstrata_testenv_up{tier=\"l1\"} 42\n")
	}))
	defer target.Close()

	srv := prometheus.New(t, prometheus.Options{
		Targets:        []string{target.Listener.Addr().String()},
		ScrapeInterval: 500 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	res, err := srv.WaitQuery(ctx, `strata_testenv_up{job="strata"}`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first sample after %v", time.Since(start))
	if len(res) != 1 || res[0].Value != 42 || res[0].Metric["tier"] != "l1" {
		t.Fatalf("query result %+v; want one sample 42 with tier=l1", res)
	}
	if res, err := srv.Query(ctx, "scalar(strata_testenv_up) * 2"); err != nil || len(res) != 1 || res[0].Value != 84 {
		t.Fatalf("scalar query: %+v, %v", res, err)
	}
	if _, err := srv.Query(ctx, "sum("); err == nil {
		t.Fatal("a malformed query returned no error")
	}
}
