package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// fleetIntendedDifferences are the places where a node of a fleet (plain
// keys in the shared L2 on Redis Cluster) answers differently from one
// redis-server, on top of intendedDifferences. Plain keys in a fleet keep
// Redis semantics; an entry here needs a reason that a fleet cannot do
// otherwise.
var fleetIntendedDifferences = []intendedDifference{
	// INFO keyspace describes this node's L1 in a fleet: counting the
	// fleet's keys means a SCAN of every master (what DBSIZE does), too
	// costly for a command that exporters call on every scrape. Whether a
	// key this node wrote is in its L1 depends on the write (a plain SET
	// keeps its copy; an echo of another write may have evicted it), so
	// the db0 line may be there or not.
	{"info", "INFO", "INFO keyspace counts this node's L1 in a fleet (DBSIZE counts the fleet's keys)",
		func(s string) bool {
			return strings.Contains(s, "db0:keys=1,expires=0: MISSING") || strings.Contains(s, "db0:keys=1,expires=0: present")
		}},
	{"info", "INFO keyspace", "INFO keyspace counts this node's L1 in a fleet (DBSIZE counts the fleet's keys)",
		func(s string) bool {
			return strings.Contains(s, "db0:keys=1,expires=0: MISSING") || strings.Contains(s, "db0:keys=1,expires=0: present")
		}},
}

func findFleetIntended(caseName, label string) *intendedDifference {
	if d := findIntended(caseName, label); d != nil {
		return d
	}
	for i, d := range fleetIntendedDifferences {
		if d.caseName == caseName && d.step == label {
			return &fleetIntendedDifferences[i]
		}
	}
	return nil
}

// TestDifferentialFleet runs the differential script of
// TestDifferentialRedis, and the full SCAN iterations of
// TestDifferentialScan, against a strata node of a fleet: redis.addrs names
// a Redis Cluster (3 masters, 3 replicas), so its plain keys live in the
// shared L2. A second node runs beside it, so that its writes go through a
// fleet's invalidation pushes as they would in production. Differences are
// reported reply by reply, as in TestDifferentialRedis; the allow-list is
// intendedDifferences plus fleetIntendedDifferences.
func TestDifferentialFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	requireStrata(t)
	cli := requireTool(t, "redis-cli")
	refAddr := startRedis(t)
	f := startStrataFleet(t, fleetOpts{nodes: 2})
	waitFleet(t, &http.Client{Timeout: 30 * time.Second}, f.nodes, func(int) bool { return true }, false)
	target := f.nodes[0].RESPAddr
	const targetName = "fleet node"

	for _, client := range []respClient{redisCLIClient(cli, false), redisCLIClient(cli, true), goRedisClient()} {
		t.Run(client.name, func(t *testing.T) {
			report, semantic, textOnly := differential(t, client, refAddr, targetName, target, findFleetIntended)
			if len(report) > 0 {
				t.Errorf("%s: %d replies of a fleet node differ from Redis (%d different replies, %d error messages only):\n%s",
					client.name, len(report), semantic, textOnly, strings.Join(report, "\n"))
			}
		})
	}

	t.Run("SCAN", func(t *testing.T) {
		scanDifferential(t, cli, refAddr, targetName, target)
	})
}
