package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/strata-cache/strata/internal/resource"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "STRATA_"

// EnvConfig names the YAML file to load when neither Load's path argument
// nor --config gives one. It and EnvBin are the only STRATA_* variables
// that are not configuration keys.
const EnvConfig = EnvPrefix + "CONFIG"

// EnvBin is not configuration: the test suite and the bench scripts name
// the strata binary with it, and pass their environment to the binary.
// It is ignored rather than rejected as unknown.
const EnvBin = EnvPrefix + "BIN"

// FlagConfig is the name of the flag that names the YAML file.
const FlagConfig = "config"

// delim separates the parts of a key path.
const delim = "."

// field is one leaf of Config: a key that holds a value rather than a
// section of further keys.
type field struct {
	// key is the dotted path, e.g. "cache.max_memory".
	key string
	// index locates the field for reflect.Value.FieldByIndex.
	index []int
	// open is set for map-typed leaves, whose sub-keys are data (a future
	// "resources.users.sql", say) rather than configuration keys.
	open bool
}

// fields lists every leaf of Config in declaration order. A struct-typed
// field is a section and is descended into unless its type decodes itself
// (encoding.TextUnmarshaler); every other field is a leaf.
func fields() []field {
	textUnmarshaler := reflect.TypeFor[encoding.TextUnmarshaler]()
	var out []field
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name := sf.Tag.Get("koanf")
			if !sf.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				// A missing tag is a programming error that TestKeysTagged
				// catches; fall back to the lower-cased Go name meanwhile.
				name = strings.ToLower(sf.Name)
			}
			key := prefix + name
			idx := append(slices.Clone(index), i)
			ft := sf.Type
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshaler) {
				walk(ft, key+delim, idx)
				continue
			}
			out = append(out, field{key: key, index: idx, open: ft.Kind() == reflect.Map})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// Keys returns every configuration key, e.g. "cache.max_memory", in the
// order the fields are declared.
func Keys() []string {
	fs := fields()
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

// EnvName returns the environment variable that sets key: EnvPrefix
// followed by the key upper-cased with "." replaced by "_", e.g.
// "cache.max_memory" -> "STRATA_CACHE_MAX_MEMORY". Because field names
// themselves contain "_", Load maps names back to keys by looking them up in
// the set of known keys, never by splitting on "_".
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, delim, "_"))
}

// envKeys maps each known environment variable to its key. It reports an
// error if two keys share a name, which TestEnvNamesUnique guards against.
func envKeys(fs []field) (map[string]string, error) {
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		if f.open {
			continue // maps cannot be set from the environment
		}
		name := EnvName(f.key)
		if other, dup := out[name]; dup || name == EnvConfig {
			return nil, fmt.Errorf("strata: config: keys %q and %q both map to %s", other, f.key, name)
		}
		out[name] = f.key
	}
	return out, nil
}

// flagKeys maps each flag registered by BindFlags to the key it sets.
func flagKeys() map[string]string {
	return map[string]string{
		"resp-addr":        "resp.addr",
		"http-addr":        "http.addr",
		"max-memory":       "cache.max_memory",
		"log-level":        "log.level",
		"log-format":       "log.format",
		"shutdown-timeout": "shutdown.timeout",
		"redis-addrs":      "redis.addrs",
	}
}

// BindFlags registers the serve flags on fs: --config FILE and one flag per
// commonly overridden key (--resp-addr, --http-addr, --max-memory,
// --log-level, --log-format, --shutdown-timeout). The defaults shown in help
// are Default's; Load applies only the flags the user actually set, so a
// flag's default never overrides the file or the environment.
func BindFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.String(FlagConfig, "", "read configuration from YAML `file` (default $"+EnvConfig+", else none)")
	fs.String("resp-addr", d.RESP.Addr, "RESP listen `host:port`; empty disables (resp.addr)")
	fs.String("http-addr", d.HTTP.Addr, "HTTP listen `host:port`; empty disables (http.addr)")
	maxMemory := d.Cache.MaxMemory
	fs.Var(&maxMemory, "max-memory", "memory budget of the in-process cache, e.g. 512mb or 2gb (cache.max_memory)")
	fs.String("log-level", d.Log.Level, "minimum log `level`: debug, info, warn or error (log.level)")
	fs.String("log-format", d.Log.Format, "log `format`: ecs (JSON) or text (log.format)")
	fs.Duration("shutdown-timeout", d.Shutdown.Timeout, "how long SIGTERM waits for in-flight work (shutdown.timeout)")
	fs.String("redis-addrs", "", "comma-separated Redis Cluster seed `addresses` (or one standalone Redis): the shared L2 (redis.addrs)")
}

// Load builds a Config from Default, then the YAML file at path, then the
// STRATA_* variables in environ (in os.Environ's "NAME=value" form), then
// the flags on fs that the user set, and validates it.
//
// If path is "", the file named by --config on fs is used, else the one
// named by STRATA_CONFIG in environ, else none. environ and fs may be nil.
//
// All problems are reported at once, joined with errors.Join; each is a
// *FieldError that names its key (or variable, or the file if it is not
// valid YAML) and wraps ErrInvalid. A file that cannot be read is reported
// as "strata: config: open <path>: <cause>" and does not wrap ErrInvalid.
func Load(path string, environ []string, fs *pflag.FlagSet) (Config, error) {
	if path == "" {
		path = configPath(environ, fs)
	}
	var src []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("strata: config: %w", err)
		}
		src = b
	}
	return load(path, src, environ, fs)
}

// load is Load with the file already read; name is used in messages and
// src is parsed only if name is not "".
func load(name string, src []byte, environ []string, fs *pflag.FlagSet) (Config, error) {
	fields := fields()
	var p problems

	k := koanf.New(delim)
	if name != "" {
		if err := k.Load(yamlSource(src), yaml.Parser()); err != nil {
			return Config{}, &FieldError{Key: name, Err: err}
		}
		checkFileKeys(&p, k, fields)
	}

	env, err := fromEnv(&p, environ, fields)
	if err != nil {
		return Config{}, err
	}
	if err := k.Load(confmap.Provider(env, delim), nil); err != nil {
		return Config{}, fmt.Errorf("strata: config: environment: %w", err)
	}

	if fs != nil {
		keys := flagKeys()
		flags := posflag.ProviderWithFlag(fs, delim, nil, func(f *pflag.Flag) (string, any) {
			key, ok := keys[f.Name]
			if !ok || !f.Changed {
				return "", nil
			}
			return key, f.Value.String()
		})
		if err := k.Load(flags, nil); err != nil {
			return Config{}, fmt.Errorf("strata: config: flags: %w", err)
		}
	}

	c := Default()
	root := reflect.ValueOf(&c).Elem()
	for _, f := range fields {
		if !k.Exists(f.key) {
			continue
		}
		if err := decode(k, f.key, root.FieldByIndex(f.index)); err != nil {
			if fe, ok := err.(*FieldError); ok {
				p = append(p, fe) // already names a key inside the field
			} else {
				p = append(p, &FieldError{Key: f.key, Err: err})
			}
		}
	}
	if err := c.Validate(); err != nil {
		p = append(p, err)
	}
	if err := errors.Join(p...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// yamlSource is a koanf.Provider of YAML already in memory.
type yamlSource []byte

// ReadBytes returns the YAML.
func (y yamlSource) ReadBytes() ([]byte, error) { return y, nil }

// Read is not supported: yamlSource needs a parser.
func (y yamlSource) Read() (map[string]any, error) {
	return nil, errors.New("yamlSource needs a parser")
}

// configPath returns the file named by --config, else by STRATA_CONFIG.
func configPath(environ []string, fs *pflag.FlagSet) string {
	if fs != nil {
		if f := fs.Lookup(FlagConfig); f != nil && f.Value.String() != "" {
			return f.Value.String()
		}
	}
	path := ""
	for _, kv := range environ {
		if name, val, ok := strings.Cut(kv, "="); ok && name == EnvConfig {
			path = val // the last one wins, as with getenv
		}
	}
	return path
}

// checkFileKeys reports every key in the file that is not a configuration
// key, so a typo is an error rather than a silently ignored setting.
func checkFileKeys(p *problems, k *koanf.Koanf, fields []field) {
	leaves := make(map[string]field, len(fields))
	sections := map[string]bool{}
	for _, f := range fields {
		leaves[f.key] = f
		for i := range len(f.key) {
			if f.key[i] == '.' {
				sections[f.key[:i]] = true
			}
		}
	}
	checkDots(p, "", k.Raw())
	reported := map[string]bool{}
	for _, key := range k.Keys() {
		if _, ok := leaves[key]; ok {
			continue
		}
		if sections[key] {
			// "resp:" with nothing under it, or "resp: {}", is harmless.
			if v := k.Get(key); v != nil && !isEmptyMap(v) {
				p.add(key, "is a section and must be a mapping of its keys, got %s", describe(v))
			}
			continue
		}
		if _, ok := leafAbove(key, leaves); ok {
			continue // decode reports a mapping where a value belongs
		}
		// Report an unknown section once, not once per key inside it.
		parts := strings.Split(key, delim)
		for i := 1; i < len(parts); i++ {
			if sec := strings.Join(parts[:i], delim); !sections[sec] {
				if !reported[sec] {
					reported[sec] = true
					p.add(sec, "unknown section")
				}
				key = ""
				break
			}
		}
		if key == "" {
			continue
		}
		if near := nearest(key, leaves); near != "" {
			p.add(key, "unknown key (did you mean %s?)", near)
		} else {
			p.add(key, "unknown key")
		}
	}
}

// checkDots rejects YAML keys that contain the delimiter, such as a literal
// "cache.max_memory:" at the top level: koanf would file them under a path
// nothing reads, silently ignoring the setting.
func checkDots(p *problems, prefix string, m map[string]any) {
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v := m[name]
		if strings.Contains(name, delim) {
			p.add(prefix+name, "keys must not contain %q; nest the key under its section", delim)
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			checkDots(p, prefix+name+delim, sub)
		}
	}
}

// leafAbove returns the leaf whose key is a proper prefix of key.
func leafAbove(key string, leaves map[string]field) (field, bool) {
	for i := len(key) - 1; i > 0; i-- {
		if key[i] == '.' {
			if f, ok := leaves[key[:i]]; ok {
				return f, true
			}
		}
	}
	return field{}, false
}

// fromEnv returns the configuration keys set by STRATA_* variables in
// environ, as a flat map of key to string value, and reports unknown
// STRATA_* variables. Later entries override earlier ones.
func fromEnv(p *problems, environ []string, fields []field) (map[string]any, error) {
	names, err := envKeys(fields)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvConfig || name == EnvBin {
			continue
		}
		key, ok := names[name]
		if !ok {
			var known []string
			for n := range names {
				known = append(known, n)
			}
			if near := nearestName(name, known); near != "" {
				p.add(name, "unknown environment variable (did you mean %s?)", near)
			} else {
				p.add(name, "unknown environment variable")
			}
			continue
		}
		out[key] = val
	}
	return out, nil
}

// decode sets dst, the field for key, from the merged value in k. Scalars
// and lists are converted here so that every message is written for an
// operator and names the element at fault (gateway.keys[1].scopes); maps go
// through koanf's mapstructure decoder.
func decode(k *koanf.Koanf, key string, dst reflect.Value) error {
	v := k.Get(key)
	if v == nil {
		return nil // "key:" with no value keeps the default
	}
	if dst.Type() == reflect.TypeFor[map[string]resource.Spec]() {
		return decodeResources(key, v, dst)
	}
	if dst.Kind() == reflect.Slice {
		return decodeSlice(key, v, dst)
	}
	if ok, err := decodeScalar(v, dst); ok {
		return err
	}
	return k.UnmarshalWithConf(key, dst.Addr().Interface(), koanf.UnmarshalConf{
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.TextUnmarshallerHookFunc(),
			),
			ErrorUnused: true,
			TagName:     "koanf",
		},
	})
}

// decodeScalar sets dst from v if dst is a scalar (string, number, bool,
// Bytes, duration) and reports whether it was one.
func decodeScalar(v any, dst reflect.Value) (bool, error) {
	switch dst.Type() {
	case reflect.TypeFor[Bytes]():
		b, err := toBytes(v)
		if err != nil {
			return true, err
		}
		dst.SetUint(uint64(b))
		return true, nil
	case reflect.TypeFor[time.Duration]():
		d, err := toDuration(v)
		if err != nil {
			return true, err
		}
		dst.SetInt(int64(d))
		return true, nil
	}
	switch dst.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return true, fmt.Errorf("want a string, got %s", describe(v))
		}
		dst.SetString(s)
		return true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := toInt(v)
		if err != nil {
			return true, err
		}
		if dst.OverflowInt(n) {
			return true, fmt.Errorf("%d is out of range", n)
		}
		dst.SetInt(n)
		return true, nil
	case reflect.Bool:
		switch b := v.(type) {
		case bool:
			dst.SetBool(b)
			return true, nil
		case string:
			pb, err := strconv.ParseBool(b)
			if err != nil {
				return true, fmt.Errorf("want true or false, got %q", b)
			}
			dst.SetBool(pb)
			return true, nil
		}
		return true, fmt.Errorf("want true or false, got %s", describe(v))
	case reflect.Float32, reflect.Float64:
		x, err := toFloat(v)
		if err != nil {
			return true, err
		}
		dst.SetFloat(x)
		return true, nil
	}
	return false, nil
}

// decodeSlice sets dst, a slice field at key, from v: a YAML list, or for a
// list of strings from the environment or a flag, a comma-separated string.
// Each element is decoded like a field of its own, so problems name it, as
// in "gateway.keys[1].rate". An empty list leaves the field nil, so that a
// Config marshalled to YAML loads back equal.
func decodeSlice(key string, v any, dst reflect.Value) error {
	et := dst.Type().Elem()
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case string:
		if et.Kind() != reflect.String {
			return fmt.Errorf("want a list, got %s; it can only be set in the configuration file", describe(v))
		}
		for _, part := range strings.Split(x, ",") {
			if part = strings.TrimSpace(part); part != "" {
				items = append(items, part)
			}
		}
	default:
		return fmt.Errorf("want a list, got %s", describe(v))
	}
	if len(items) == 0 {
		dst.SetZero()
		return nil
	}
	out := reflect.MakeSlice(dst.Type(), len(items), len(items))
	for i, item := range items {
		ekey := fmt.Sprintf("%s[%d]", key, i)
		if item == nil {
			return &FieldError{Key: ekey, Err: errors.New("must not be empty")}
		}
		if et.Kind() == reflect.Struct {
			if err := decodeStruct(ekey, item, out.Index(i)); err != nil {
				return err
			}
			continue
		}
		ok, err := decodeScalar(item, out.Index(i))
		if !ok {
			err = fmt.Errorf("lists of %s are not supported", et)
		}
		if err != nil {
			return &FieldError{Key: ekey, Err: err}
		}
	}
	dst.Set(out)
	return nil
}

// decodeStruct sets dst, a struct that is one element of a list at key,
// from v, a YAML mapping whose keys are dst's koanf tags. Unknown keys are
// errors, as they are at the top level. It returns a *FieldError naming
// the first problem's key.
func decodeStruct(key string, v any, dst reflect.Value) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &FieldError{Key: key, Err: fmt.Errorf("want a mapping, got %s", describe(v))}
	}
	t := dst.Type()
	byName := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("koanf"); name != "" && name != "-" {
			byName[name] = i
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		fkey := key + delim + name
		i, ok := byName[name]
		if !ok {
			if near := nearestName(name, slices.Collect(maps.Keys(byName))); near != "" {
				return &FieldError{Key: fkey, Err: fmt.Errorf("unknown key (did you mean %s?)", near)}
			}
			return &FieldError{Key: fkey, Err: errors.New("unknown key")}
		}
		val := m[name]
		if val == nil {
			continue // "name:" with no value keeps the zero value
		}
		f := dst.Field(i)
		var err error
		if f.Kind() == reflect.Slice {
			err = decodeSlice(fkey, val, f)
		} else if ok, serr := decodeScalar(val, f); !ok {
			err = fmt.Errorf("fields of type %s are not supported in lists", f.Type())
		} else {
			err = serr
		}
		if err != nil {
			if _, nested := err.(*FieldError); nested {
				return err
			}
			return &FieldError{Key: fkey, Err: err}
		}
	}
	return nil
}

// toFloat accepts a number from YAML or a decimal string from the
// environment or a flag.
func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("want a number, got %q", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("want a number, got %s", describe(v))
}

// toBytes accepts a size string ("512mb") or a non-negative whole number.
func toBytes(v any) (Bytes, error) {
	switch x := v.(type) {
	case string:
		return ParseBytes(x)
	case uint64:
		return Bytes(x), nil
	case int, int64, float64:
		n, err := toInt(v)
		if err != nil {
			return 0, err
		}
		if n < 0 {
			return 0, fmt.Errorf("%w %d: must not be negative", ErrInvalidSize, n)
		}
		return Bytes(n), nil
	}
	return 0, fmt.Errorf("want a size such as 512mb, 1GiB or 1048576, got %s", describe(v))
}

// toDuration accepts Go duration syntax ("10s", "1m30s", "-1s"). A bare
// number is rejected, except 0, because "timeout: 300" is ambiguous
// (Redis reads seconds, Go nanoseconds).
func toDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("want a duration such as 10s, 250ms or 1m30s, got %q", x)
		}
		return d, nil
	case int, int64, uint64, float64:
		if n, err := toInt(v); err == nil && n == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("want a duration with a unit, such as 10s or 250ms, got %v", x)
	}
	return 0, fmt.Errorf("want a duration such as 10s, 250ms or 1m30s, got %s", describe(v))
}

// toInt accepts a whole number from YAML or a decimal string from the
// environment or a flag.
func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of range", x)
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return 0, fmt.Errorf("want a whole number, got %v", x)
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a whole number, got %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %s", describe(v))
}

// describe names the YAML kind of v for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a value of type %T", v)
}

// isEmptyMap reports whether v is a mapping with no keys (YAML "{}").
func isEmptyMap(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// nearest returns the known key closest to key when it is close enough to
// be a plausible typo, else "".
func nearest(key string, leaves map[string]field) string {
	names := make([]string, 0, len(leaves))
	for k := range leaves {
		names = append(names, k)
	}
	return nearestName(key, names)
}

// nearestName returns the candidate within edit distance 2 of s (3 for long
// names), preferring the smallest distance and then alphabetical order.
func nearestName(s string, candidates []string) string {
	if len(s) > 64 {
		return "" // not a typo, and not worth quadratic work
	}
	slices.Sort(candidates)
	best, bestD := "", 3
	if len(s) > 16 {
		bestD = 4
	}
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
