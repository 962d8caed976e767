package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/cache"
)

func TestMGetMixed(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	f.put(t, "/v1/kv/a", "1")
	f.put(t, "/v1/kv/bin", "\xff\x00\x01")
	f.put(t, "/v1/kv/t?ttl=10s", "<html>&")
	f.put(t, "/v1/kv/%FF%00key", "binary key")
	f.put(t, "/v1/kv/empty", "")
	f.clock.Advance(2500 * time.Millisecond)

	body := `{"keys": ["a", "missing", "bin", "t", "a", "empty"]}`
	w := f.do(t, http.MethodPost, "/v1/mget", strings.NewReader(body))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("mget = %d %s; %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	ttl := int64(7500)
	str := func(s string) *string { return &s }
	want := []mgetResult{
		{Key: "a", Found: true, Value: str("1"), Encoding: "utf-8", ETag: cache.ETag([]byte("1")), Source: "L1"},
		{Key: "missing", Source: "miss"},
		{Key: "bin", Found: true, Value: str(base64.StdEncoding.EncodeToString([]byte("\xff\x00\x01"))), Encoding: "base64", ETag: cache.ETag([]byte("\xff\x00\x01")), Source: "L1"},
		{Key: "t", Found: true, Value: str("<html>&"), Encoding: "utf-8", ETag: cache.ETag([]byte("<html>&")), TTLMs: &ttl, Source: "L1"},
		{Key: "a", Found: true, Value: str("1"), Encoding: "utf-8", ETag: cache.ETag([]byte("1")), Source: "L1"},
		{Key: "empty", Found: true, Value: str(""), Encoding: "utf-8", ETag: cache.ETag(nil), Source: "L1"},
	}
	var got mgetResponse
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if g, w := fmt.Sprint(deref(got.Results)), fmt.Sprint(deref(want)); g != w {
		t.Errorf("results\n got %s\nwant %s", g, w)
	}
	if strings.Contains(w.Body.String(), `\u003c`) {
		t.Error("the JSON escapes HTML characters")
	}
	if strings.Contains(w.Body.String(), `"missing","found":false,"value"`) {
		t.Error("a miss carries a value member")
	}

	// Binary keys travel as base64 and come back as sent.
	k := base64.StdEncoding.EncodeToString([]byte("\xff\x00key"))
	w = f.do(t, http.MethodPost, "/v1/mget", strings.NewReader(`{"keys":["`+k+`"],"key_encoding":"base64"}`))
	got = mgetResponse{}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got.Results) != 1 {
		t.Fatalf("base64 mget = %d %s", w.Code, w.Body)
	}
	if r := got.Results[0]; r.Key != k || !r.Found || *r.Value != "binary key" {
		t.Errorf("base64 key result %+v", r)
	}
}

// deref makes results printable by value.
func deref(rs []mgetResult) []string {
	var out []string
	for _, r := range rs {
		v, ttl := "<nil>", "<nil>"
		if r.Value != nil {
			v = *r.Value
		}
		if r.TTLMs != nil {
			ttl = fmt.Sprint(*r.TTLMs)
		}
		out = append(out, fmt.Sprintf("{%q %v %q %s %s ttl=%s %s}", r.Key, r.Found, v, r.Encoding, r.ETag, ttl, r.Source))
	}
	return out
}

func TestMGetEmptyBatch(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	w := f.do(t, http.MethodPost, "/v1/mget", strings.NewReader(`{"keys":[]}`))
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"results":[]}` {
		t.Fatalf("empty batch = %d %s", w.Code, w.Body)
	}
}

func TestMGetErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		code   int
		slug   string
		detail string // a substring the detail must contain
	}{
		{"empty body", ``, 400, "invalid-json", "empty"},
		{"syntax", `{"keys": [`, 400, "invalid-json", "ends in the middle"},
		{"syntax error offset", `{"keys": ["a",]}`, 400, "invalid-json", "at byte"},
		{"keys not array", `{"keys": "a"}`, 400, "invalid-json", `"keys": want an array of strings, got a JSON string`},
		{"key not string", `{"keys": [1]}`, 400, "invalid-json", "want a string, got a JSON number"},
		{"unknown field", `{"keys": [], "key": "a"}`, 400, "invalid-json", `unknown field "key"`},
		{"keys missing", `{}`, 400, "invalid-json", `"keys" is required`},
		{"not an object", `["a"]`, 400, "invalid-json", "the body: want an object, got a JSON array"},
		{"trailing data", `{"keys": []} {"keys": []}`, 400, "invalid-json", "after the JSON object"},
		{"trailing garbage", `{"keys": []} x`, 400, "invalid-json", "after the JSON object"},
		{"bad key_encoding", `{"keys": [], "key_encoding": "hex"}`, 400, "invalid-json", "key_encoding"},
		{"bad base64", `{"keys": ["!!"], "key_encoding": "base64"}`, 400, "invalid-key", "keys[0]"},
		{"empty key", `{"keys": ["a", ""]}`, 400, "invalid-key", "keys[1]"},
		{"key too large", `{"keys": ["abcdefghi"]}`, 414, "key-too-large", "keys[0]"},
		{"too many keys", `{"keys": ["a", "b", "c", "d"]}`, 413, "too-many-keys", "4 keys, the limit is 3"},
		{"body too large", `{"keys": ["` + strings.Repeat("a", 200) + `"]}`, 413, "body-too-large", "128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{MaxBatchKeys: 3, MaxBody: 128}, cacheLimits{maxKeySize: 8})
			p := wantProblem(t, f.do(t, http.MethodPost, "/v1/mget", strings.NewReader(tt.body)), tt.code, tt.slug)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q lacks %q", p.Detail, tt.detail)
			}
		})
	}
}

func TestMGetDefaultLimit(t *testing.T) {
	f := newFixture(t, Options{}, cacheLimits{})
	keys := make([]string, DefaultMaxBatchKeys+1)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	wantProblem(t, f.do(t, http.MethodPost, "/v1/mget", strings.NewReader(string(b))), 413, "too-many-keys")
	b, _ = json.Marshal(map[string]any{"keys": keys[:DefaultMaxBatchKeys]})
	if w := f.do(t, http.MethodPost, "/v1/mget", strings.NewReader(string(b))); w.Code != http.StatusOK {
		t.Fatalf("mget of %d keys = %d", DefaultMaxBatchKeys, w.Code)
	}
}
