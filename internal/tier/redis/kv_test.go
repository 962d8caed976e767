package redis

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/testenv/rediscluster"
)

// TestKVPushesReachEveryOtherNode: a plain-key write by any node reaches
// the handler of every other node, round after round, whoever writes.
func TestKVPushesReachEveryOtherNode(t *testing.T) {
	c := rediscluster.New(t, rediscluster.Options{})
	ctx := context.Background()
	var ls []*L2
	var recs []*recorder
	for range 3 {
		l, r := open(t, testOptions(c.Addrs()))
		ls, recs = append(ls, l), append(recs, r)
	}
	v, exp, found, err := ls[0].KVGet(ctx, "k")
	if err != nil || found {
		t.Fatalf("KVGet = %q %d %v %v", v, exp, found, err)
	}
	for round := range 30 {
		w := round % 3
		old, oexp, ofound, err := ls[w].KVGet(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			r.mu.Lock()
			r.keys = nil
			r.mu.Unlock()
		}
		ok, err := ls[w].KVSwap(ctx, "k", old, oexp, ofound, []byte("v"+strconv.Itoa(round)), 0, false)
		if err != nil || !ok {
			t.Fatalf("round %d: KVSwap = %v, %v", round, ok, err)
		}
		for i, r := range recs {
			if i == w {
				continue
			}
			deadline := time.Now().Add(5 * time.Second)
			for !r.has(func(r *recorder) bool { return slices.Contains(r.keys, "k") }) {
				if time.Now().After(deadline) {
					t.Fatalf("round %d (writer %d): node %d got no push; stats %+v", round, w, i, ls[i].Stats())
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}
