package resp

import (
	"testing"

	"github.com/strata-cache/strata/internal/gateway"
)

// TestGatewayClassifiesEveryCommand checks the gateway's command table
// against the server's: every command with keys needs read or write (not
// admin, which an unclassified command falls back to), and locates the
// same keys; every admin-flagged command needs admin.
func TestGatewayClassifiesEveryCommand(t *testing.T) {
	for _, cmd := range buildTable().list {
		if cmd.subs != nil {
			continue // classified per subcommand
		}
		scope, ks := gateway.CommandScope(cmd.name)
		if cmd.firstKey > 0 {
			if scope&gateway.ScopeAdmin != 0 || scope == 0 {
				t.Errorf("%s has keys but the gateway gives it scope %v", cmd.name, scope)
			}
			if ks.First != cmd.firstKey || ks.Last != cmd.lastKey || ks.Step != cmd.step {
				t.Errorf("%s: gateway keys %+v, server keys %d %d %d", cmd.name, ks, cmd.firstKey, cmd.lastKey, cmd.step)
			}
		}
		if cmd.flags&flagAdmin != 0 && scope&gateway.ScopeAdmin == 0 {
			t.Errorf("%s is an admin command but the gateway gives it scope %v", cmd.name, scope)
		}
	}
}
