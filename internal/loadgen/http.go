package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// keyPlaceholder marks where the key goes in an HTTP URL template.
const keyPlaceholder = "{key}"

func hasKey(tmpl string) bool { return strings.Contains(tmpl, keyPlaceholder) }

// urlTemplate is a URL split around its single {key}.
type urlTemplate struct {
	before, after string
	static        bool // no {key}: every request is a GET of before
}

func parseURLTemplate(s string) (urlTemplate, error) {
	probe := strings.Replace(s, keyPlaceholder, "k", 1)
	u, err := url.Parse(probe)
	if err != nil {
		return urlTemplate{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return urlTemplate{}, errors.New("must start with http:// or https://")
	}
	if u.Host == "" {
		return urlTemplate{}, errors.New("has no host")
	}
	before, after, found := strings.Cut(s, keyPlaceholder)
	if strings.Contains(after, keyPlaceholder) {
		return urlTemplate{}, errors.New("has more than one {key}")
	}
	return urlTemplate{before: before, after: after, static: !found}, nil
}

// httpTarget sends GET (reads) and PUT (writes) requests through one
// net/http Transport sized so that every load goroutine keeps its own
// keep-alive connection: MaxIdleConnsPerHost = MaxConnsPerHost = Conns.
// net/http costs a few allocations per request; that is the price of
// speaking HTTP exactly as real clients do, and it is the same for every
// server measured.
type httpTarget struct {
	tmpl   urlTemplate
	prefix string
	value  []byte
	tr     *http.Transport
	hc     *http.Client
}

func newHTTPTarget(o *Options, value []byte) (*httpTarget, error) {
	tmpl, err := parseURLTemplate(o.URL)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        o.Conns,
		MaxIdleConnsPerHost: o.Conns,
		MaxConnsPerHost:     o.Conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &httpTarget{
		tmpl:   tmpl,
		prefix: o.KeyPrefix,
		value:  value,
		tr:     tr,
		hc:     &http.Client{Transport: tr, Timeout: o.Timeout},
	}, nil
}

// dial returns a client. HTTP connections are the Transport's, so the first
// request doubles as the reachability check Run does before starting.
func (t *httpTarget) dial(context.Context) (client, error) {
	return &httpClient{t: t}, nil
}

func (t *httpTarget) close() { t.tr.CloseIdleConnections() }

// httpClient is one load goroutine's handle on the shared Transport.
type httpClient struct {
	t    *httpTarget
	url  []byte
	body bytes.Reader
}

// do sends each op as its own request. A transport failure ends the batch
// with an error, like a broken RESP connection.
func (c *httpClient) do(ctx context.Context, ops []op, res []result) error {
	for i, o := range ops {
		r, err := c.one(ctx, o)
		if err != nil {
			return err
		}
		r.at = time.Now()
		res[i] = r
	}
	return nil
}

func (c *httpClient) one(ctx context.Context, o op) (result, error) {
	u := c.t.tmpl.before
	if !c.t.tmpl.static {
		c.url = append(c.url[:0], c.t.tmpl.before...)
		key := appendKey(nil, c.t.prefix, o.key)
		c.url = append(c.url, url.PathEscape(string(key))...)
		c.url = append(c.url, c.t.tmpl.after...)
		u = string(c.url)
	}
	method := http.MethodGet
	var body io.Reader
	if o.write {
		method = http.MethodPut
		c.body.Reset(c.t.value)
		body = &c.body
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return result{}, err
	}
	if o.write {
		req.ContentLength = int64(len(c.t.value))
		req.Header["Content-Type"] = []string{"application/octet-stream"}
	}
	resp, err := c.t.hc.Do(req)
	if err != nil {
		return result{}, err
	}
	// Drain so the connection goes back to the pool for reuse.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return result{}, err
	}
	switch {
	case o.write && resp.StatusCode/100 == 2:
		return result{kind: resOK}, nil
	case !o.write && resp.StatusCode == http.StatusOK:
		return result{kind: resHit}, nil
	case !o.write && resp.StatusCode == http.StatusNotFound && !c.t.tmpl.static:
		return result{kind: resMiss}, nil
	default:
		return result{kind: resError, errKind: "http " + strconv.Itoa(resp.StatusCode)}, nil
	}
}

func (c *httpClient) close() error { return nil }
