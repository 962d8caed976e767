package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/gateway"
)

// newKeysCmd returns "strata keys" and its subcommand "new", which makes
// an API key and prints the configuration entry that admits it.
func newKeysCmd(stdout io.Writer) *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys for the gateway",
	}
	keys.AddCommand(newKeysNewCmd(stdout, rand.Reader))
	return keys
}

// newKeysNewCmd returns "strata keys new", reading key material from
// random (crypto/rand outside tests).
func newKeysNewCmd(stdout io.Writer, random io.Reader) *cobra.Command {
	var (
		name     string
		scopes   []string
		prefixes []string
		rate     float64
		burst    int
	)
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Print a new API key and the gateway.keys entry that admits it",
		Long: `Print a new API key and the gateway.keys entry that admits it.

The key is 32 random bytes, printed once: strata stores only its SHA-256
hash, so the key cannot be shown again. Give the key to the client (HTTP:
"Authorization: Bearer <key>" or "X-API-Key: <key>"; RESP: AUTH <key> or
AUTH <name> <key>) and add the printed entry to the configuration file.`,
		Example: `  strata keys new --name app --scopes read,write --prefix users: --prefix session:
  strata keys new --name ops --scopes admin,read`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, hash, err := gateway.NewKey(random)
			if err != nil {
				return fmt.Errorf("strata: keys new: reading random bytes: %w", err)
			}
			if name == "" {
				name = "key-" + strings.TrimPrefix(hash, config.HashPrefix)[:8]
			}
			entry := config.KeyConfig{Name: name, Hash: hash, Scopes: scopes, Prefixes: prefixes, Rate: rate, Burst: burst}
			if err := checkKeyEntry(entry); err != nil {
				return &exitError{code: 2, err: err}
			}
			_, err = io.WriteString(stdout, formatKey(key, entry))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "`name` of the key, also its RESP user name (default key-<8 hex digits of its hash>)")
	f.StringSliceVar(&scopes, "scopes", []string{config.ScopeRead}, "comma-separated `scopes`: read, write, admin")
	f.StringArrayVar(&prefixes, "prefix", nil, "limit the key to cache keys starting with `prefix` (repeatable)")
	f.Float64Var(&rate, "rate", 0, "requests per second allowed on each node; 0 is unlimited")
	f.IntVar(&burst, "burst", 0, "requests allowed at once above the rate; 0 is one second's worth")
	return cmd
}

// checkKeyEntry validates entry as the configuration would, so that the
// printed entry is known to load.
func checkKeyEntry(entry config.KeyConfig) error {
	c := config.Default()
	c.Gateway.Keys = []config.KeyConfig{entry}
	err := c.Validate()
	if err == nil {
		return nil
	}
	// Name the flag rather than the configuration key the user has not
	// written yet.
	var msgs []string
	for _, e := range unjoin(err) {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			msgs = append(msgs, flagFor(fe.Key)+": "+fe.Err.Error())
		}
	}
	return errors.New("strata: keys new: " + strings.Join(msgs, "; "))
}

// unjoin returns the errors joined in err by errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// flagFor names the flag that sets a gateway.keys[0] field.
func flagFor(key string) string {
	field := key[strings.LastIndexByte(key, '.')+1:]
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	switch field {
	case "scopes":
		return "--scopes"
	case "prefixes":
		return "--prefix"
	}
	return "--" + field
}

// formatKey renders the key and its configuration entry. The entry is a
// complete YAML document (comments aside) that "strata config validate"
// accepts on its own.
func formatKey(key string, e config.KeyConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# API key %q. Give it to the client; it is shown only once (strata stores only its hash).\n", e.Name)
	fmt.Fprintf(&b, "%s\n\n", key)
	b.WriteString("# Add this entry under gateway.keys in the strata configuration file:\n")
	b.WriteString("gateway:\n  keys:\n")
	fmt.Fprintf(&b, "    - name: %s\n", strconv.Quote(e.Name))
	fmt.Fprintf(&b, "      hash: %s\n", strconv.Quote(e.Hash))
	fmt.Fprintf(&b, "      scopes: %s\n", yamlList(e.Scopes))
	if len(e.Prefixes) > 0 {
		fmt.Fprintf(&b, "      prefixes: %s\n", yamlList(e.Prefixes))
	}
	if e.Rate > 0 {
		fmt.Fprintf(&b, "      rate: %s\n", strconv.FormatFloat(e.Rate, 'f', -1, 64))
		if e.Burst > 0 {
			fmt.Fprintf(&b, "      burst: %d\n", e.Burst)
		}
	}
	return b.String()
}

// yamlList renders strings as a YAML flow sequence of double-quoted
// scalars. strconv.Quote's escapes are valid in YAML double-quoted
// strings for the printable text that validation admits.
func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
