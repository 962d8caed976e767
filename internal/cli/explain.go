package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-cache/strata/internal/cache"
	"github.com/strata-cache/strata/internal/server/httpapi"
)

// explainPath returns the /v1/explain/ path of key, escaped as KeyPath
// escapes it for /v1/kv/.
func explainPath(key string) string {
	return "/v1/explain/" + strings.TrimPrefix(httpapi.KeyPath(key), "/v1/kv/")
}

// newExplainCmd returns `strata explain KEY`: what a node knows about a key
// (GET /v1/explain/{key}): its resource and parameters, the tier holding
// it, age, remaining TTL, state, and when and how it was filled.
func newExplainCmd(stdout io.Writer) *cobra.Command {
	c := &client{http: &http.Client{Timeout: 30 * time.Second}}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain KEY",
		Short: "Explain a key: its resource, the tier holding it, age, TTL, and how it was filled",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			_, b, err := c.do(http.MethodGet, explainPath(args[0]), nil)
			if err != nil {
				return err
			}
			if asJSON {
				var out bytes.Buffer
				if err := json.Indent(&out, b, "", "  "); err != nil {
					return fmt.Errorf("explain: the server sent invalid JSON: %w", err)
				}
				_, err := stdout.Write(out.Bytes())
				return err
			}
			var x cache.Explanation
			if err := json.Unmarshal(b, &x); err != nil {
				return fmt.Errorf("explain: the server sent invalid JSON: %w", err)
			}
			return printExplanation(stdout, x)
		},
	}
	cmd.Flags().StringVar(&c.base, "server", "http://127.0.0.1:8080", "base URL of a strata node's HTTP front end")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's JSON as is")
	return cmd
}

// printExplanation prints x as aligned "field  value" lines.
func printExplanation(w io.Writer, x cache.Explanation) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	ms := func(p *int64) string { return (time.Duration(*p) * time.Millisecond).String() }
	line("key", fmt.Sprintf("%q", x.Key))
	line("resource", x.Resource)
	if x.Template != "" {
		line("template", x.Template)
		names := make([]string, 0, len(x.Params))
		for n := range x.Params {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			line("param "+n, fmt.Sprintf("%q", x.Params[n]))
		}
	}
	line("tier", x.Tier)
	line("state", x.State)
	if x.AgeMs != nil {
		line("age", ms(x.AgeMs))
	}
	if x.TTLMs != nil {
		line("ttl", ms(x.TTLMs))
	}
	if x.ExpiresInMs != nil {
		line("dropped in", ms(x.ExpiresInMs))
	}
	if x.FilledAt != nil {
		line("filled at", x.FilledAt.Format(time.RFC3339Nano))
	}
	if x.FillDurationMs != nil {
		line("fill took", fmt.Sprintf("%.3fms", *x.FillDurationMs))
	}
	if x.FillKind != "" {
		line("filled by", x.FillKind)
	}
	if x.Bytes != nil {
		line("bytes", fmt.Sprint(*x.Bytes))
	}
	if p := x.Policy; p != nil {
		d := func(v int64) string { return (time.Duration(v) * time.Millisecond).String() }
		line("policy", fmt.Sprintf("ttl %s, stale_while_revalidate %s, stale_if_error %s, negative_ttl %s, query_timeout %s, ttl_jitter %g",
			d(p.TTLMs), d(p.StaleWhileRevalidateMs), d(p.StaleIfErrorMs), d(p.NegativeTTLMs), d(p.QueryTimeoutMs), p.TTLJitter))
	}
	return tw.Flush()
}
