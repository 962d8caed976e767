// Package nodetest starts in-process strata nodes for tests: the one place
// that knows how to start a node and stop it when the test ends.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/node"
)

// Start builds and starts a node from cfg, logging to log (nil discards),
// and shuts it down when the test ends, failing the test if the shutdown
// does.
func Start(t testing.TB, cfg config.Config, log *slog.Logger) *node.Node {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n, err := node.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
	return n
}
