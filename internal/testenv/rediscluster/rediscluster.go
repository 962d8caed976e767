// Package rediscluster runs a real Redis Cluster for tests: by default six
// redis-server processes, three masters each with one replica, on free ports
// of 127.0.0.1, joined with redis-cli --cluster create.
//
// The cluster uses a short cluster-node-timeout (1s by default) so that
// tests can kill a master and see a replica take over within seconds. Kill,
// Restart and WaitHealthy let tests script such failures; Masters and
// Replicas report the roles as the cluster currently sees them, which change
// after a failover.
//
// Use New in a test, or Start/Close from TestMain to share one cluster
// across a package (tests that kill nodes should then restart them and call
// WaitHealthy before they end).
package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-cache/strata/internal/testenv/procs"
	"github.com/strata-cache/strata/internal/testenv/redisserver"
)

// SlotCount is the number of hash slots in a Redis Cluster.
const SlotCount = 16384

const installHint = "apt-get install redis-server redis-tools"

// Options configures a cluster. The zero value gives three masters with one
// replica each and a one-second node timeout.
type Options struct {
	// Masters is the number of master nodes. Default 3, the minimum Redis
	// Cluster accepts.
	Masters int
	// ReplicasPerMaster is the number of replicas of each master. Default 1;
	// a negative value means none.
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout: how long a node must be
	// unreachable before it is considered failing. Default 1s.
	NodeTimeout time.Duration
	// Config holds extra redis.conf directives for every node.
	Config []string
	// StartTimeout bounds starting the nodes, creating the cluster and
	// waiting for it to be healthy. Default 60s.
	StartTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Masters <= 0 {
		o.Masters = 3
	}
	if o.ReplicasPerMaster == 0 {
		o.ReplicasPerMaster = 1
	} else if o.ReplicasPerMaster < 0 {
		o.ReplicasPerMaster = 0
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	return o
}

// Cluster is a running Redis Cluster. Its methods are safe for concurrent
// use.
type Cluster struct {
	bin  string
	dir  string
	opts Options

	mu    sync.Mutex
	nodes []*node // fixed order; Addrs follows it
}

type node struct {
	addr    string
	dir     string
	conf    string
	logPath string
	proc    *procs.Process // nil or exited after Kill
}

// New starts a cluster for the test and stops it when the test ends. A
// missing redis-server or redis-cli skips the test, or fails it when CI=true.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), opts)
	procs.Require(t, err)
	procs.Cleanup(t, "redis cluster node", c.logPaths(), c.dir, c.stop)
	return c
}

// Start starts the nodes, creates the cluster and waits until it is healthy.
// The caller must Close it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	bin, err := procs.LookPath("redis-server", installHint)
	if err != nil {
		return nil, err
	}
	cli, err := procs.LookPath("redis-cli", installHint)
	if err != nil {
		return nil, err
	}
	dir, err := procs.TempDir("rediscluster")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	c := &Cluster{bin: bin, dir: dir, opts: opts}
	if err := c.create(ctx, cli); err != nil {
		var tails strings.Builder
		for _, l := range c.logPaths() {
			fmt.Fprintf(&tails, "\n--- %s ---\n%s", l, procs.Tail(l, 15))
		}
		c.Close()
		return nil, fmt.Errorf("rediscluster: %w%s", err, tails.String())
	}
	return c, nil
}

func (c *Cluster) create(ctx context.Context, cli string) error {
	n := c.opts.Masters * (1 + c.opts.ReplicasPerMaster)
	// Each node needs a client port and a cluster bus port. The bus port is
	// set with cluster-port rather than left at the default port+10000,
	// which is often above 65535 or taken for ports from the ephemeral range.
	ports, err := procs.FreePorts(2 * n)
	if err != nil {
		return err
	}
	nodeTimeout := strconv.FormatInt(c.opts.NodeTimeout.Milliseconds(), 10)
	for i := range n {
		port, bus := ports[2*i], ports[2*i+1]
		nd := &node{
			addr:    "127.0.0.1:" + strconv.Itoa(port),
			dir:     filepath.Join(c.dir, strconv.Itoa(port)),
			logPath: filepath.Join(c.dir, strconv.Itoa(port), "redis.log"),
		}
		nd.conf = filepath.Join(nd.dir, "redis.conf")
		if err := os.Mkdir(nd.dir, 0o755); err != nil {
			return err
		}
		extra := append([]string{
			"cluster-enabled yes",
			"cluster-config-file nodes.conf",
			"cluster-port " + strconv.Itoa(bus),
			"cluster-node-timeout " + nodeTimeout,
			// Let any replica fail over however stale its data, so that
			// failover in tests never stalls on replication lag.
			"cluster-replica-validity-factor 0",
		}, c.opts.Config...)
		if err := os.WriteFile(nd.conf, []byte(redisserver.Config(port, nd.dir, extra)), 0o644); err != nil {
			return err
		}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		if err := c.startNode(nd); err != nil {
			return err
		}
	}
	for _, nd := range c.nodes {
		if err := procs.WaitPort(ctx, nd.addr, nd.proc); err != nil {
			return fmt.Errorf("node %s: %w", nd.addr, err)
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.opts.ReplicasPerMaster), "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		return fmt.Errorf("after create: %w\nredis-cli output:\n%s", err, out)
	}
	return nil
}

func (c *Cluster) startNode(nd *node) error {
	p, err := procs.Start(procs.Spec{Path: c.bin, Args: []string{nd.conf}, Dir: nd.dir, LogPath: nd.logPath})
	if err != nil {
		return err
	}
	nd.proc = p
	return nil
}

func (c *Cluster) logPaths() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.nodes))
	for _, nd := range c.nodes {
		out = append(out, nd.logPath)
	}
	return out
}

func (c *Cluster) node(addr string) (*node, error) {
	for _, nd := range c.nodes {
		if nd.addr == addr {
			return nd, nil
		}
	}
	return nil, fmt.Errorf("rediscluster: no node %s", addr)
}

// Addrs returns the address of every node, running or killed, in a fixed
// order.
func (c *Cluster) Addrs() []string {
	out := make([]string, 0, len(c.nodes))
	for _, nd := range c.nodes {
		out = append(out, nd.addr)
	}
	return out
}

// Running returns the addresses of the nodes whose processes are up.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, nd := range c.nodes {
		if nd.proc != nil && nd.proc.Running() {
			out = append(out, nd.addr)
		}
	}
	return out
}

// NodeTimeout returns the cluster-node-timeout in effect.
func (c *Cluster) NodeTimeout() time.Duration { return c.opts.NodeTimeout }

// Masters returns the addresses of the healthy masters that serve slots,
// as the first reachable running node sees them.
func (c *Cluster) Masters(ctx context.Context) ([]string, error) {
	return c.role(ctx, "master")
}

// Replicas returns the addresses of the healthy replicas, as the first
// reachable running node sees them.
func (c *Cluster) Replicas(ctx context.Context) ([]string, error) {
	return c.role(ctx, "slave")
}

func (c *Cluster) role(ctx context.Context, role string) ([]string, error) {
	var errs []error
	for _, addr := range c.Running() {
		ns, err := clusterNodes(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var out []string
		for _, n := range ns {
			if n.has(role) && !n.failing() && (role != "master" || n.slots > 0) {
				out = append(out, n.addr)
			}
		}
		sort.Strings(out)
		return out, nil
	}
	return nil, fmt.Errorf("rediscluster: no node answered CLUSTER NODES: %w", errors.Join(errs...))
}

// Kill sends SIGKILL to the node at addr (and waits until it is gone),
// simulating a crash. The cluster notices after NodeTimeout and, if the
// node was a master, promotes one of its replicas.
func (c *Cluster) Kill(addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd, err := c.node(addr)
	if err != nil {
		return err
	}
	if nd.proc != nil {
		nd.proc.Kill()
	}
	return nil
}

// Pause stops the node at addr with SIGSTOP: it keeps its connections but
// answers nothing and takes in no replication stream until Resume. A paused
// replica that is later promoted lacks every write its master accepted
// meanwhile: the asynchronous-replication loss tests need exactly that.
func (c *Cluster) Pause(addr string) error { return c.signal(addr, syscall.SIGSTOP) }

// Resume continues a node stopped by Pause.
func (c *Cluster) Resume(addr string) error { return c.signal(addr, syscall.SIGCONT) }

func (c *Cluster) signal(addr string, sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd, err := c.node(addr)
	if err != nil {
		return err
	}
	if nd.proc == nil || !nd.proc.Running() {
		return fmt.Errorf("rediscluster: node %s is not running", addr)
	}
	return nd.proc.Signal(sig)
}

// Restart starts a killed node again on the same port and directory, and
// waits until it accepts connections. It rejoins the cluster with its saved
// identity (nodes.conf); a former master comes back as a replica of the node
// that replaced it. Call WaitHealthy to wait until the cluster agrees.
func (c *Cluster) Restart(ctx context.Context, addr string) error {
	c.mu.Lock()
	nd, err := c.node(addr)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if nd.proc != nil && nd.proc.Running() {
		c.mu.Unlock()
		return fmt.Errorf("rediscluster: node %s is running", addr)
	}
	err = c.startNode(nd)
	p := nd.proc
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return procs.WaitPort(ctx, addr, p)
}

// WaitHealthy waits until every running node reports cluster_state:ok with
// all slots assigned, sees every slot owned by a running master, and sees
// every other running node as connected, not failing, and either a master
// with slots or a replica. After Kill of a master it therefore waits for the
// failover to complete, and after Restart for the node to settle as a
// replica.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	return procs.Poll(ctx, 100*time.Millisecond, nil, c.healthy)
}

func (c *Cluster) healthy(ctx context.Context) error {
	running := c.Running()
	if len(running) == 0 {
		return errors.New("no node is running")
	}
	for _, addr := range running {
		info, err := command(ctx, addr, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		for _, want := range []string{
			"cluster_state:ok",
			"cluster_slots_assigned:" + strconv.Itoa(SlotCount),
			"cluster_slots_ok:" + strconv.Itoa(SlotCount),
		} {
			if !strings.Contains(info, want+"\r\n") {
				return fmt.Errorf("node %s: CLUSTER INFO lacks %s", addr, want)
			}
		}
		ns, err := clusterNodes(ctx, addr)
		if err != nil {
			return err
		}
		seen := map[string]clusterNode{}
		served := 0
		for _, n := range ns {
			seen[n.addr] = n
			if n.slots > 0 && slices.Contains(running, n.addr) && !n.failing() {
				served += n.slots
			}
		}
		// A killed master keeps its slots in every view until the others
		// have marked it failing and promoted a replica; until then the
		// cluster is not healthy even though CLUSTER INFO may still say ok.
		if served != SlotCount {
			return fmt.Errorf("node %s: running masters serve %d of %d slots", addr, served, SlotCount)
		}
		for _, other := range running {
			n, ok := seen[other]
			switch {
			case !ok:
				return fmt.Errorf("node %s does not know %s", addr, other)
			case n.failing() || !n.connected:
				return fmt.Errorf("node %s sees %s as %s/%v", addr, other, strings.Join(n.flags, ","), n.connected)
			case n.has("master") && n.slots == 0:
				// A restarted former master first claims to be a master;
				// it becomes a replica once it learns of its successor.
				return fmt.Errorf("node %s sees %s as a master without slots", addr, other)
			}
		}
	}
	return nil
}

// Close stops every node (SIGTERM, then SIGKILL after a timeout) and removes
// the cluster's directory. It is idempotent.
func (c *Cluster) Close() error {
	return errors.Join(c.stop(), os.RemoveAll(c.dir))
}

// stop stops every node in parallel.
func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, nd := range c.nodes {
		if nd.proc == nil {
			continue
		}
		wg.Go(func() {
			if err := nd.proc.Stop(procs.DefaultStopTimeout); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// command sends one command to one node on a fresh connection and returns
// its string reply.
func command(ctx context.Context, addr string, args ...any) (string, error) {
	cl := redis.NewClient(&redis.Options{
		Addr:            addr,
		Protocol:        2,
		DisableIdentity: true,
		MaxRetries:      -1,
		PoolSize:        1,
		DialTimeout:     time.Second,
		ReadTimeout:     2 * time.Second,
		WriteTimeout:    2 * time.Second,
	})
	defer cl.Close()
	s, err := cl.Do(ctx, args...).Text()
	if err != nil {
		return "", fmt.Errorf("node %s: %v: %w", addr, args, err)
	}
	return s, nil
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	addr      string
	flags     []string
	connected bool
	slots     int
}

func (n clusterNode) has(flag string) bool {
	for _, f := range n.flags {
		if f == flag {
			return true
		}
	}
	return false
}

func (n clusterNode) failing() bool {
	return n.has("fail") || n.has("fail?") || n.has("noaddr") || n.has("handshake")
}

func clusterNodes(ctx context.Context, addr string) ([]clusterNode, error) {
	s, err := command(ctx, addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	return parseClusterNodes(s), nil
}

// parseClusterNodes parses CLUSTER NODES output:
// <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
func parseClusterNodes(s string) []clusterNode {
	var out []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr := f[1]
		if i := strings.IndexAny(addr, "@,"); i >= 0 {
			addr = addr[:i]
		}
		n := clusterNode{
			addr:      addr,
			flags:     strings.Split(f[2], ","),
			connected: f[7] == "connected",
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // slot being migrated or imported
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				n.slots += b - a + 1
			}
		}
		out = append(out, n)
	}
	return out
}
