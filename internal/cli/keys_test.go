package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/gateway"
)

// runKeysNew runs "strata keys new" with args and returns its output.
func runKeysNew(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newKeysCmd(&out)
	cmd.SetArgs(append([]string{"new"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

// TestKeysNewParsesBack: the printed key authenticates against a gateway
// built from the printed configuration, with the requested scopes.
func TestKeysNewParsesBack(t *testing.T) {
	out, err := runKeysNew(t, "--name", "app", "--scopes", "read,write", "--prefix", "users:", "--prefix", `we"ird:`, "--rate", "100", "--burst", "200")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	key := lines[1]
	if !strings.HasPrefix(key, gateway.KeyPrefix) || len(key) != 46 {
		t.Fatalf("second line %q is not a key\n%s", key, out)
	}
	path := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	// The key line is not YAML configuration; strip it as a user would.
	snippet := strings.Join(lines[3:], "\n")
	if err := os.WriteFile(path, []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, nil, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, snippet)
	}
	k := c.Gateway.Keys[0]
	if k.Name != "app" || strings.Join(k.Scopes, ",") != "read,write" || strings.Join(k.Prefixes, ",") != `users:,we"ird:` || k.Rate != 100 || k.Burst != 200 {
		t.Fatalf("entry %+v", k)
	}
	g, err := gateway.New(c.Gateway, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.Authenticate(key)
	if err != nil || p.Name != "app" || !p.Has(gateway.ScopeRead|gateway.ScopeWrite) || p.Has(gateway.ScopeAdmin) {
		t.Fatalf("Authenticate(printed key) = %+v, %v", p, err)
	}
}

func TestKeysNewDefaultsAndUniqueness(t *testing.T) {
	a, err := runKeysNew(t)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := runKeysNew(t)
	if a == b {
		t.Fatal("two runs printed the same key")
	}
	if !strings.Contains(a, `name: "key-`) || !strings.Contains(a, `scopes: ["read"]`) {
		t.Fatalf("defaults:\n%s", a)
	}
}

func TestKeysNewRejectsBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--scopes", "wrte"}, `strata: keys new: --scopes: unknown scope "wrte"`},
		{[]string{"--name", "my app"}, "strata: keys new: --name: must not contain spaces"},
		{[]string{"--prefix", ""}, "strata: keys new: --prefix: must not be empty"},
		{[]string{"--rate", "-1"}, "strata: keys new: --rate: must be >= 0"},
	} {
		out, err := runKeysNew(t, tt.args...)
		var ee *exitError
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("keys new %q = %v, want %q (exit 2)", tt.args, err, tt.want)
		}
		if strings.Contains(out, gateway.KeyPrefix) {
			t.Errorf("keys new %q printed a key despite the error", tt.args)
		}
	}
}
