package procs

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreePortsDistinct(t *testing.T) {
	ps, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
	}
}

func TestStartStopIgnoresTerm(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	// A process that ignores SIGTERM must be killed after the timeout.
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", `trap "" TERM; echo started; while :; do sleep 1; done`}, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Poll(ctx, 10*time.Millisecond, p, func(context.Context) error {
		if Tail(log, 1) != "started" {
			return os.ErrNotExist
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(200 * time.Millisecond); err == nil {
		t.Fatal("Stop reported a clean exit for a process that ignores SIGTERM")
	}
	if p.Running() {
		t.Fatal("still running after Stop")
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestWaitPortNoticesExit(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"-c", "exit 3"}, LogPath: filepath.Join(t.TempDir(), "log")})
	if err != nil {
		t.Fatal(err)
	}
	err = WaitPort(context.Background(), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), p)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("WaitPort = %v; want an exit error", err)
	}
}

func TestNotInstalled(t *testing.T) {
	_, err := LookPath("strata-no-such-binary", "install it")
	if !IsNotInstalled(err) {
		t.Fatalf("LookPath error %v is not a NotInstalledError", err)
	}
}
