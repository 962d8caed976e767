package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-cache/strata/internal/server/httpapi"
)

// client is the HTTP client of the client verbs.
type client struct {
	base string
	http *http.Client
}

func (c *client) url(p string) string { return strings.TrimRight(c.base, "/") + p }

// kvPath returns the /v1/kv/ path of key, escaped so that any key
// round-trips (including "." and "..").
func kvPath(key string) string { return httpapi.KeyPath(key) }

// do sends a request and returns the body of a 2xx answer. Any other answer
// becomes an error carrying the server's problem detail.
func (c *client) do(method, path string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, c.url(path), body)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (is strata running? pass --server)", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		var p struct{ Title, Detail string }
		if json.Unmarshal(b, &p) == nil && p.Title != "" {
			msg := p.Title
			if p.Detail != "" {
				msg += ": " + p.Detail
			}
			return resp, b, &exitError{code: 1, err: errors.New(msg)}
		}
		return resp, b, &exitError{code: 1, err: fmt.Errorf("%s %s: %s", method, path, resp.Status)}
	}
	return resp, b, nil
}

func newClientCmds(stdout io.Writer) []*cobra.Command {
	c := &client{http: &http.Client{Timeout: 30 * time.Second}}
	bind := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVar(&c.base, "server", "http://127.0.0.1:8080", "base URL of a strata node's HTTP front end")
		return cmd
	}
	get := bind(&cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of a key (exit 1 when it does not exist)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			_, b, err := c.do(http.MethodGet, kvPath(args[0]), nil)
			if err != nil {
				return err
			}
			_, err = stdout.Write(b)
			if err == nil && (len(b) == 0 || b[len(b)-1] != '\n') {
				_, err = io.WriteString(stdout, "\n")
			}
			return err
		},
	})
	var ttl time.Duration
	set := bind(&cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Store a value under a key, with an optional --ttl",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			p := kvPath(args[0])
			if ttl > 0 {
				p += "?ttl=" + url.QueryEscape(ttl.String())
			}
			_, _, err := c.do(http.MethodPut, p, strings.NewReader(args[1]))
			if err == nil {
				fmt.Fprintln(stdout, "OK")
			}
			return err
		},
	})
	set.Flags().DurationVar(&ttl, "ttl", 0, "time to live (e.g. 30s, 10m); 0 keeps the key until evicted")
	del := bind(&cobra.Command{
		Use:   "del KEY...",
		Short: "Delete keys; print how many existed",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			n := 0
			for _, k := range args {
				resp, _, err := c.do(http.MethodDelete, kvPath(k), nil)
				if resp != nil && resp.StatusCode == http.StatusNotFound {
					continue
				}
				if err != nil {
					return err
				}
				n++
			}
			fmt.Fprintln(stdout, n)
			return nil
		},
	})
	stats := bind(&cobra.Command{
		Use:   "stats",
		Short: "Print a node's statistics as JSON",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			_, b, err := c.do(http.MethodGet, "/v1/stats", nil)
			if err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return fmt.Errorf("stats: the server sent invalid JSON: %w", err)
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		},
	})
	return []*cobra.Command{get, set, del, stats, newExplainCmd(stdout)}
}
