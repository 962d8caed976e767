package config

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestLoadNothingIsDefault(t *testing.T) {
	c, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load with no sources = %+v, want Default() = %+v", c, Default())
	}
}

// TestTestdata loads every testdata/*.good.yaml, which must succeed, and
// every *.bad.yaml, which must fail with a message naming the key given on
// the file's first line as "# want: <key>".
func TestTestdata(t *testing.T) {
	good, _ := filepath.Glob("testdata/*.good.yaml")
	bad, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(good) < 3 || len(bad) < 4 {
		t.Fatalf("found %d good and %d bad files; testdata is missing", len(good), len(bad))
	}
	for _, path := range good {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if _, err := Load(path, nil, nil); err != nil {
				t.Fatalf("Load(%s) = %v", path, err)
			}
		})
	}
	for _, path := range bad {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := wantKey(t, path)
			_, err := Load(path, nil, nil)
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want an error naming %s", path, want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "strata: config: ") || !strings.Contains(msg, want+": ") {
				t.Fatalf("Load(%s) error = %q, want \"strata: config: ...%s: ...\"", path, msg, want)
			}
		})
	}
}

func wantKey(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		if key, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			return key
		}
	}
	t.Fatalf("%s: first line must be \"# want: <key>\"", path)
	return ""
}

func TestFullGoodSetsEveryKey(t *testing.T) {
	c, err := Load("testdata/full.good.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	cv, dv := reflect.ValueOf(c), reflect.ValueOf(d)
	for _, f := range fields() {
		if reflect.DeepEqual(cv.FieldByIndex(f.index).Interface(), dv.FieldByIndex(f.index).Interface()) {
			t.Errorf("full.good.yaml leaves %s at its default; set every key there", f.key)
		}
	}
	if c.Cache.MaxMemory != 2*GiB || c.HTTP.IdleTimeout != 90*time.Second || c.Slowlog.LogSlowerThan != 250*time.Microsecond {
		t.Errorf("unexpected values: %+v", c)
	}
}

// writeYAML writes src to a temporary file and returns its path.
func writeYAML(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPrecedence(t *testing.T) {
	// Each key is set by the layers named in its value; the highest wins.
	path := writeYAML(t, `
resp:
  addr: 127.0.0.1:1001     # file only
http:
  addr: 127.0.0.1:1002     # file, env
cache:
  max_memory: 100mb        # file, env, flag
log:
  level: warn              # file, flag
`)
	environ := []string{
		"HOME=/root",
		"STRATA_HTTP_ADDR=127.0.0.1:2002",
		"STRATA_CACHE_MAX_MEMORY=200mb",
		"STRATA_SLOWLOG_MAX_LEN=7", // env only
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--max-memory=300mb", "--log-level", "error", "--shutdown-timeout=3s"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, environ, fs)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"resp.addr (file)", c.RESP.Addr, "127.0.0.1:1001"},
		{"http.addr (env > file)", c.HTTP.Addr, "127.0.0.1:2002"},
		{"cache.max_memory (flag > env > file)", c.Cache.MaxMemory, 300 * MiB},
		{"log.level (flag > file)", c.Log.Level, "error"},
		{"slowlog.max_len (env > default)", c.Slowlog.MaxLen, 7},
		{"shutdown.timeout (flag > default)", c.Shutdown.Timeout, 3 * time.Second},
		{"log.format (default)", c.Log.Format, FormatECS},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.key, ck.got, ck.want)
		}
	}
}

// TestUnsetFlagsDoNotOverride guards the rule that a flag's default, shown
// in help, never beats the file or the environment.
func TestUnsetFlagsDoNotOverride(t *testing.T) {
	path := writeYAML(t, "resp:\n  addr: 127.0.0.1:1001\nlog:\n  level: debug\n")
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	BindFlags(fs)
	fs.Bool("verbose", false, "a flag of some other component")
	if err := fs.Parse([]string{"--verbose"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"STRATA_CACHE_MAX_MEMORY=2gb"}, fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.RESP.Addr != "127.0.0.1:1001" || c.Log.Level != "debug" || c.Cache.MaxMemory != 2*GiB {
		t.Fatalf("unset flags overrode file/env: %+v", c)
	}
}

func TestConfigFileFromFlagAndEnv(t *testing.T) {
	fromFlag := writeYAML(t, "log:\n  level: debug\n")
	fromEnv := writeYAML(t, "log:\n  level: warn\n")
	env := []string{EnvConfig + "=" + fromEnv}

	c, err := Load("", env, nil)
	if err != nil || c.Log.Level != "warn" {
		t.Fatalf("STRATA_CONFIG: level %q, err %v; want warn", c.Log.Level, err)
	}

	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--config", fromFlag}); err != nil {
		t.Fatal(err)
	}
	c, err = Load("", env, fs)
	if err != nil || c.Log.Level != "debug" {
		t.Fatalf("--config over STRATA_CONFIG: level %q, err %v; want debug", c.Log.Level, err)
	}

	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); err == nil ||
		!strings.HasPrefix(err.Error(), "strata: config: ") || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestEnvKeysWithUnderscores(t *testing.T) {
	c, err := Load("", []string{
		"STRATA_RESP_MAX_MULTIBULK_LEN=64",
		"STRATA_RESP_MAX_BULK_LEN=1mb",
		"STRATA_HTTP_READ_HEADER_TIMEOUT=3s",
		"STRATA_SLOWLOG_LOG_SLOWER_THAN=-1ms",
		"STRATA_RESP_ADDR=", // empty disables the listener
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RESP.MaxMultibulkLen != 64 || c.RESP.MaxBulkLen != MiB || c.HTTP.ReadHeaderTimeout != 3*time.Second ||
		c.Slowlog.LogSlowerThan != -time.Millisecond || c.RESP.Addr != "" {
		t.Fatalf("env not applied: %+v", c)
	}
}

func TestUnknownEnvIsError(t *testing.T) {
	_, err := Load("", []string{"STRATA_CACHE_MAX_MEMROY=1gb", "STRATA_NOPE=1", "STRATAX=1", "OTHER=1"}, nil)
	if err == nil {
		t.Fatal("unknown STRATA_* variables accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"strata: config: STRATA_CACHE_MAX_MEMROY: unknown environment variable (did you mean STRATA_CACHE_MAX_MEMORY?)",
		"strata: config: STRATA_NOPE: unknown environment variable",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "STRATAX") || strings.Contains(msg, "OTHER") {
		t.Errorf("error %q names a variable outside the STRATA_ prefix", msg)
	}
}

func TestBadEnvValueNamesKey(t *testing.T) {
	_, err := Load("", []string{"STRATA_CACHE_MAX_MEMORY=lots", "STRATA_SHUTDOWN_TIMEOUT=10"}, nil)
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{"strata: config: cache.max_memory: ", "strata: config: shutdown.timeout: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestEnvNamesUnique guards the env-to-key mapping: it works by lookup in
// the set of known keys, which is only sound if no two keys share a name
// (for example a future "a.b_c" and "a_b.c").
func TestEnvNamesUnique(t *testing.T) {
	names, err := envKeys(fields())
	if err != nil {
		t.Fatal(err)
	}
	settable := 0
	for _, f := range fields() {
		if !f.open { // maps (resources) are file-only
			settable++
		}
	}
	if len(names) != settable {
		t.Fatalf("%d env names for %d settable keys", len(names), settable)
	}
	for name, key := range names {
		if EnvName(key) != name {
			t.Errorf("EnvName(%q) = %q, mapped from %q", key, EnvName(key), name)
		}
	}
	clash := []field{{key: "a.b_c"}, {key: "a_b.c"}}
	if _, err := envKeys(clash); err == nil {
		t.Error("envKeys accepted colliding keys a.b_c and a_b.c")
	}
}

// TestKeysTagged checks that every field has matching koanf and yaml tags
// in snake_case, so the file, the environment and any YAML dump agree.
func TestKeysTagged(t *testing.T) {
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			sf := rt.Field(i)
			k, y := sf.Tag.Get("koanf"), sf.Tag.Get("yaml")
			if k == "" || k != y || k != strings.ToLower(k) || strings.ContainsAny(k, ".- ") {
				t.Errorf("%s.%s: koanf tag %q, yaml tag %q; want equal snake_case", rt.Name(), sf.Name, k, y)
			}
			if sf.Type.Kind() == reflect.Struct {
				walk(sf.Type)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
	if got := len(Keys()); got < 17 {
		t.Errorf("only %d keys found", got)
	}
}

func TestBindFlagsMapToKeys(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	BindFlags(fs)
	known := map[string]bool{}
	for _, k := range Keys() {
		known[k] = true
	}
	for flag, key := range flagKeys() {
		if fs.Lookup(flag) == nil {
			t.Errorf("flag --%s is mapped but not registered", flag)
		}
		if !known[key] {
			t.Errorf("flag --%s maps to unknown key %s", flag, key)
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := flagKeys()[f.Name]; !ok && f.Name != FlagConfig {
			t.Errorf("flag --%s is registered but sets no key", f.Name)
		}
	})
	if got := fs.Lookup("max-memory").DefValue; got != "1GiB" {
		t.Errorf("--max-memory default shows %q, want 1GiB", got)
	}
}

func TestValidateMessages(t *testing.T) {
	c := Default()
	c.Cache.MaxMemory = 0
	c.RESP.Addr = "nope"
	c.HTTP.Addr = "127.0.0.1:99999"
	c.Log.Level = "loud"
	c.Log.Format = "xml"
	c.Slowlog.MaxLen = -1
	c.Shutdown.Timeout = -time.Second
	c.RESP.MaxMultibulkLen = 0
	err := c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate() = %v, want an error wrapping ErrInvalid", err)
	}
	want := []string{
		`strata: config: resp.addr: must be host:port or empty, got "nope"`,
		`strata: config: resp.max_multibulk_len: must be > 0, got 0`,
		`strata: config: http.addr: port must be a number in 0..65535, got "99999"`,
		`strata: config: cache.max_memory: must be > 0`,
		`strata: config: slowlog.max_len: must be >= 0, got -1`,
		`strata: config: log.level: must be one of debug, info, warn, error; got "loud"`,
		`strata: config: log.format: must be one of ecs, text; got "xml"`,
		`strata: config: shutdown.timeout: must be >= 0, got -1s`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Fatalf("Validate() =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "resp.addr" {
		t.Fatalf("errors.As(*FieldError) = %v", fe)
	}
}

func TestValidAddrs(t *testing.T) {
	for _, addr := range []string{"", ":6380", "0.0.0.0:0", "[::]:6380", "cache.internal:6380"} {
		c := Default()
		c.RESP.Addr = addr
		if err := c.Validate(); err != nil {
			t.Errorf("resp.addr %q: %v", addr, err)
		}
	}
}

func TestLogSlogLevel(t *testing.T) {
	for _, lv := range []string{LevelDebug, LevelInfo, LevelWarn, LevelError} {
		if got := (LogConfig{Level: lv}).SlogLevel().String(); !strings.EqualFold(got, lv) {
			t.Errorf("SlogLevel(%q) = %s", lv, got)
		}
	}
}

// TestYAMLRoundTrip checks that a Config marshalled with its yaml tags (as
// a "config show" command would print it) loads back unchanged: Bytes
// marshals as "512MiB" and durations as "10s".
func TestYAMLRoundTrip(t *testing.T) {
	c := Default()
	c.Cache.MaxMemory = 3*GiB + 7
	c.Slowlog.LogSlowerThan = -1
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(writeYAML(t, string(out)), nil, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip changed the config:\n%s\ngot %+v", out, back)
	}
	if !strings.Contains(string(out), "max_bulk_len: 512MiB") || !strings.Contains(string(out), "timeout: 10s") {
		t.Errorf("unexpected YAML:\n%s", out)
	}
}
