// Package node assembles one strata process from its parts: the L1 tier, the
// key space, the RESP and HTTP front ends and telemetry. It owns their
// lifecycle: Start binds the listeners, Run serves until its context ends,
// and Shutdown drains in-flight work within the configured timeout.
package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/gateway"
	"github.com/strata-cache/strata/internal/invalidate/pgwal"
	"github.com/strata-cache/strata/internal/server/httpapi"
	"github.com/strata-cache/strata/internal/server/resp"
	"github.com/strata-cache/strata/internal/server/resp/wire"
	"github.com/strata-cache/strata/internal/slowlog"
	"github.com/strata-cache/strata/internal/source/postgres"
	"github.com/strata-cache/strata/internal/telemetry"
	"github.com/strata-cache/strata/internal/tier/local"
	l2redis "github.com/strata-cache/strata/internal/tier/redis"
)

// Node is one strata process.
type Node struct {
	cfg     config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *telemetry.Metrics
	clock   *otter.CoarseClock
	l1      *local.Tier
	src     *postgres.Source // nil without resources
	wal     *walState        // nil unless a resource binds tables (wal.go)
	walOpts pgwal.Options    // the consumer's options, for whichever node runs it
	l2      *l2redis.L2      // nil unless redis.addrs is set (l2.go)
	cache   *cache.Cache
	slow    *slowlog.Log
	resp    *resp.Server
	api     *httpapi.API
	http    *http.Server
	started time.Time
	runID   string

	respLn, httpLn net.Listener
	ready          atomic.Bool
	stopping       atomic.Bool

	wg        sync.WaitGroup
	serveErr  chan error
	closeOnce sync.Once
	closeErr  error

	// The gateway (gateway.go): keys, scopes and rate limits for both
	// front ends, and the TLS certificate, reloaded by Reload.
	gw         *gateway.Gateway
	certs      *gateway.CertReloader // nil without TLS
	tlsConfig  *tls.Config           // nil without TLS
	reloadStop chan struct{}
}

// New builds a node from cfg. It binds nothing; call Start.
func New(cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, started: time.Now(), runID: newRunID(), serveErr: make(chan error, 2)}
	if err := n.initGateway(); err != nil {
		return nil, err
	}
	n.reg = telemetry.NewRegistry()
	n.metrics = telemetry.NewMetrics(n.reg)
	// Every cache operation reads the clock for expiry. On virtual machines
	// a precise read costs 100+ ns; a clock that ticks every millisecond
	// costs an atomic load, and Redis itself caches the time per command
	// batch, so expiry keeps the same millisecond resolution.
	n.clock = otter.NewCoarseClock(time.Millisecond)
	n.l1 = local.New(local.Config{MaxBytes: uint64(cfg.Cache.MaxMemory), Clock: n.clock})
	if err := n.metrics.RegisterTier(n.reg, "L1", n.tierStats); err != nil {
		return nil, fmt.Errorf("strata: registering L1 metrics: %w", err)
	}
	set, src, err := openResources(cfg, log)
	if err != nil {
		n.l1.Close()
		n.clock.Stop()
		return nil, err
	}
	n.src = src
	var names []string
	for _, r := range set.All() {
		names = append(names, r.Spec.Name)
	}
	if n.l2, err = n.openL2(names); err != nil {
		src.Close()
		n.l1.Close()
		n.clock.Stop()
		return nil, err
	}
	copts := cache.Options{
		L1:           n.l1,
		Clock:        n.clock.NowNano,
		MaxKeySize:   int(cfg.Cache.MaxKeySize),
		MaxValueSize: int(cfg.Cache.MaxValueSize),
		Resources:    set,
	}
	if src != nil {
		copts.Loader = pgLoader{src}
		copts.Metrics = resourceMetrics(telemetry.NewResourceMetrics(n.reg))
	}
	if n.l2 != nil {
		copts.L2 = sharedL2{n.l2}
	}
	n.cache = cache.New(copts)
	if n.l2 != nil {
		n.l2.SetHandler(n.cache)
	}
	if err := n.startWAL(); err != nil {
		n.cache.Close()
		if n.l2 != nil {
			n.l2.Close()
		}
		src.Close()
		n.l1.Close()
		n.clock.Stop()
		return nil, err
	}
	n.slow = slowlog.New(cfg.Slowlog.LogSlowerThan, cfg.Slowlog.MaxLen)
	n.resp = resp.New(resp.Options{
		Cache:   n.cache,
		Logger:  log,
		Metrics: n.metrics,
		Limits: wire.Limits{
			MaxBulkLen:      int64(cfg.RESP.MaxBulkLen),
			MaxMultibulkLen: int64(cfg.RESP.MaxMultibulkLen),
			MaxInlineLen:    int64(cfg.RESP.MaxInlineLen),
		},
		IdleTimeout: cfg.RESP.IdleTimeout,
		SlowLog:     n.slow,
		Info:        n.info,

		Gateway:      n.gw,
		WriteTimeout: cfg.RESP.WriteTimeout,
		OutputLimit:  int(cfg.RESP.OutputLimit),
		MaxClients:   cfg.RESP.MaxClients,
	})
	n.api = httpapi.New(httpapi.Options{
		Cache:    n.cache,
		Logger:   log,
		Gatherer: n.reg,
		Metrics:  n.metrics,
		Ready:    n.readiness,
		Stats:    func() any { return n.Stats() },
		SlowLog:  n.slow,
		MaxBody:  int64(cfg.HTTP.MaxBody),

		Gateway:      n.gw,
		MaxBatchKeys: cfg.HTTP.MaxBatchKeys,
	})
	n.http = httpapi.NewServer(n.api, httpapi.ServerOptions{
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		MaxHeaderBytes:    int(cfg.HTTP.MaxHeaderBytes),
	})
	return n, nil
}

// Cache returns the node's key space.
func (n *Node) Cache() *cache.Cache { return n.cache }

// Registry returns the node's private metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// Start binds the configured listeners and starts serving. An address that
// cannot be bound is an error that names it.
func (n *Node) Start() error {
	if err := n.checkListen(); err != nil {
		return err
	}
	var err error
	if a := n.cfg.RESP.Addr; a != "" {
		if n.respLn, err = net.Listen("tcp", a); err != nil {
			return fmt.Errorf("strata: resp.addr %s: %w (is another server using the port? set --resp-addr)", a, err)
		}
	}
	if a := n.cfg.HTTP.Addr; a != "" {
		if n.httpLn, err = net.Listen("tcp", a); err != nil {
			if n.respLn != nil {
				n.respLn.Close()
			}
			return fmt.Errorf("strata: http.addr %s: %w (is another server using the port? set --http-addr)", a, err)
		}
	}
	n.respLn, n.httpLn = n.wrapTLS(n.respLn), n.wrapTLS(n.httpLn)
	if n.respLn != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.resp.Serve(n.respLn); err != nil && !n.stopping.Load() {
				n.serveErr <- fmt.Errorf("strata: resp listener: %w", err)
			}
		}()
	}
	if n.httpLn != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.http.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.serveErr <- fmt.Errorf("strata: http listener: %w", err)
			}
		}()
	}
	n.ready.Store(true)
	n.log.Info("strata is serving",
		slog.String("resp.addr", n.RESPAddr()),
		slog.String("http.addr", n.HTTPAddr()),
		slog.String("cache.max_memory", n.cfg.Cache.MaxMemory.String()),
		slog.String("version", telemetry.BuildVersion()))
	return nil
}

// RESPAddr returns the bound RESP address, or "" when disabled.
func (n *Node) RESPAddr() string {
	if n.respLn == nil {
		return ""
	}
	return n.respLn.Addr().String()
}

// HTTPAddr returns the bound HTTP address, or "" when disabled.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// Run serves until ctx is done or a listener fails, then shuts down within
// shutdown.timeout. It returns the listener's error, if one failed.
func (n *Node) Run(ctx context.Context) error {
	var runErr error
	select {
	case <-ctx.Done():
		n.log.Info("shutting down", slog.String("reason", "signal"),
			slog.String("shutdown.timeout", n.cfg.Shutdown.Timeout.String()))
	case runErr = <-n.serveErr:
		n.log.Error("listener failed, shutting down", slog.String("error.message", runErr.Error()))
	}
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.Shutdown.Timeout)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// Shutdown turns /readyz to 503, waits shutdown.drain_delay so that load
// balancers notice, stops accepting, lets in-flight requests on both front
// ends finish, and closes every connection. When ctx ends first, remaining
// connections are closed forcibly. It is idempotent and waits for every
// goroutine the node started.
func (n *Node) Shutdown(ctx context.Context) error {
	n.closeOnce.Do(func() {
		n.ready.Store(false)
		n.stopping.Store(true)
		if d := n.cfg.Shutdown.DrainDelay; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		var errs [2]error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs[0] = n.resp.Shutdown(ctx)
		}()
		go func() {
			defer wg.Done()
			if err := n.http.Shutdown(ctx); err != nil {
				n.http.Close()
				errs[1] = fmt.Errorf("strata: http shutdown: %w", err)
			}
		}()
		wg.Wait()
		n.stopReload()
		n.wg.Wait()
		n.stopWAL()
		if n.l2 != nil {
			n.l2.Close() // no more pushes; loads still running fail fast
		}
		n.cache.Close() // waits for loads, background refreshes and sweeps
		if n.src != nil {
			n.src.Close()
		}
		n.l1.Close()
		n.clock.Stop()
		n.closeErr = errors.Join(errs[:]...)
		n.log.Info("strata stopped")
	})
	return n.closeErr
}

// readiness reports whether the node should receive traffic.
func (n *Node) readiness() (bool, []string) {
	if n.stopping.Load() {
		return false, []string{"shutting down"}
	}
	if !n.ready.Load() {
		return false, []string{"starting"}
	}
	return true, n.walReasons()
}

func (n *Node) tierStats() telemetry.TierStats {
	s := n.l1.Stats()
	return telemetry.TierStats{
		Hits: s.Hits, Misses: s.Misses, Evictions: s.Evictions, Expirations: s.Expirations,
		Keys: s.Keys, UsedBytes: s.UsedBytes, MaxBytes: s.MaxBytes,
	}
}

// info supplies the node-level fields of RESP INFO server.
func (n *Node) info() resp.NodeInfo {
	return resp.NodeInfo{
		Version:  telemetry.BuildVersion(),
		RunID:    n.runID,
		Started:  n.started,
		TCPPort:  port(n.respLn),
		HTTPPort: port(n.httpLn),
	}
}

func port(ln net.Listener) int {
	if ln == nil {
		return 0
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// newRunID returns 40 random hex characters, like Redis's run_id.
func newRunID() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
