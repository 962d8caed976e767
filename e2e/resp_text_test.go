package e2e

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// This file holds the text plumbing of the differential test: splitting a
// redis-cli command line into arguments, rendering go-redis replies in
// redis-cli's --no-raw style, and the normalisers that erase what may
// legitimately differ between two servers.

// splitArgs splits a command line the way redis-cli does (sdssplitargs):
// blanks separate arguments; "double quotes" understand \xHH, \n, \r, \t,
// \b, \a, \\ and \"; 'single quotes' understand \'.
func splitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return args, nil
		}
		var cur strings.Builder
		inDQ, inSQ, done := false, false, false
		for !done {
			if i == len(line) {
				if inDQ || inSQ {
					return nil, fmt.Errorf("unbalanced quotes in %q", line)
				}
				break
			}
			c := line[i]
			switch {
			case inDQ:
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					v, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
					cur.WriteByte(byte(v))
					i += 3
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur.WriteByte('\n')
					case 'r':
						cur.WriteByte('\r')
					case 't':
						cur.WriteByte('\t')
					case 'b':
						cur.WriteByte('\b')
					case 'a':
						cur.WriteByte('\a')
					default:
						cur.WriteByte(line[i])
					}
				case c == '"':
					if i+1 < len(line) && line[i+1] != ' ' {
						return nil, fmt.Errorf("closing quote must be followed by a space in %q", line)
					}
					done = true
				default:
					cur.WriteByte(c)
				}
			case inSQ:
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur.WriteByte('\'')
				case c == '\'':
					if i+1 < len(line) && line[i+1] != ' ' {
						return nil, fmt.Errorf("closing quote must be followed by a space in %q", line)
					}
					done = true
				default:
					cur.WriteByte(c)
				}
			default:
				switch c {
				case ' ', '\t':
					done = true
				case '"':
					inDQ = true
				case '\'':
					inSQ = true
				default:
					cur.WriteByte(c)
				}
			}
			i++
		}
		args = append(args, cur.String())
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// repr quotes s like redis-cli (sdscatrepr).
func repr(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		default:
			if c < 0x20 || c >= 0x7f {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// renderGoRedis renders a go-redis Do result in the style of redis-cli
// --no-raw, so that one set of normalisers serves both clients. go-redis
// cannot tell a status reply from a bulk string, so both render quoted.
func renderGoRedis(v any, err error) string {
	if err == redis.Nil {
		return "(nil)"
	}
	if err != nil {
		if re, ok := err.(redis.Error); ok {
			return "(error) " + re.Error()
		}
		return "(client error) " + err.Error()
	}
	return strings.Join(renderValue(v), "\n")
}

func renderValue(v any) []string {
	switch x := v.(type) {
	case nil:
		return []string{"(nil)"}
	case string:
		return []string{repr(x)}
	case int64:
		return []string{fmt.Sprintf("(integer) %d", x)}
	case float64:
		return []string{"(double) " + strconv.FormatFloat(x, 'g', -1, 64)}
	case bool:
		if x {
			return []string{"(true)"}
		}
		return []string{"(false)"}
	case *big.Int:
		return []string{"(big number) " + x.String()}
	case redis.Error:
		return []string{"(error) " + x.Error()}
	case []any:
		if len(x) == 0 {
			return []string{"(empty array)"}
		}
		return renderItems(len(x), ")", func(i int) []string { return renderValue(x[i]) })
	case map[any]any:
		if len(x) == 0 {
			return []string{"(empty hash)"}
		}
		// RESP3 maps are unordered; render them sorted by key so the order
		// a server chooses does not matter.
		type kv struct{ k, v []string }
		kvs := make([]kv, 0, len(x))
		for k, val := range x {
			kvs = append(kvs, kv{renderValue(k), renderValue(val)})
		}
		sort.Slice(kvs, func(i, j int) bool { return strings.Join(kvs[i].k, "\n") < strings.Join(kvs[j].k, "\n") })
		return renderItems(len(kvs), "#", func(i int) []string {
			lines := append([]string(nil), kvs[i].v...)
			lines[0] = strings.Join(kvs[i].k, " ") + " => " + lines[0]
			return lines
		})
	default:
		return []string{fmt.Sprintf("(%T) %v", v, v)}
	}
}

// renderItems numbers the renderings of n items like redis-cli: "1) x",
// continuation lines indented under the first.
func renderItems(n int, mark string, item func(int) []string) []string {
	width := len(strconv.Itoa(n))
	var out []string
	for i := range n {
		prefix := fmt.Sprintf("%*d%s ", width, i+1, mark)
		pad := strings.Repeat(" ", len(prefix))
		for j, l := range item(i) {
			if j == 0 {
				out = append(out, prefix+l)
			} else {
				out = append(out, pad+l)
			}
		}
	}
	return out
}

// normaliser rewrites one step's rendered reply(s) so that what may
// legitimately differ between servers compares equal. Normalisers work on
// the text of both redis-cli and renderGoRedis.
type normaliser func(string) string

var (
	reInteger = regexp.MustCompile(`\(integer\) (-?\d+)`)
	reDigits  = regexp.MustCompile(`\d+`)
	reIndex   = regexp.MustCompile(`^\s*(?:\d+[)#] +)*`)
	reAddr    = regexp.MustCompile(`"?\d+\.\d+\.\d+\.\d+:\d+"?`)
)

// anyInteger replaces every integer reply by N: client ids, counts of
// server-specific things, memory sizes.
func anyInteger(s string) string { return reInteger.ReplaceAllString(s, "(integer) N") }

// allDigits replaces every run of digits by N (TIME).
func allDigits(s string) string { return reDigits.ReplaceAllString(s, "N") }

// intBetween replaces integer replies within [lo, hi] by a token naming the
// range, so that a TTL read a moment after it was set compares equal
// whichever second it rounds to.
func intBetween(lo, hi int64) normaliser {
	return func(s string) string {
		return reInteger.ReplaceAllStringFunc(s, func(m string) string {
			n, _ := strconv.ParseInt(reInteger.FindStringSubmatch(m)[1], 10, 64)
			if lo <= n && n <= hi {
				return fmt.Sprintf("(integer) in [%d,%d]", lo, hi)
			}
			return m
		})
	}
}

// unordered strips the element numbering and sorts the lines: for KEYS and
// other replies whose order is unspecified.
func unordered(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = reIndex.ReplaceAllString(l, "")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// fieldPairs normalises a map reply, whether a RESP3 map ("1# k => v") or a
// RESP2 flat array of alternating keys and values: it sorts the pairs by key
// and replaces the values of keys not in keep by <value>.
func fieldPairs(keep ...string) normaliser {
	return func(s string) string {
		if strings.HasPrefix(s, "(error)") {
			return s
		}
		kept := map[string]bool{}
		for _, k := range keep {
			kept[repr(k)] = true
		}
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			lines = append(lines, reIndex.ReplaceAllString(l, ""))
		}
		var pairs []string
		add := func(k, v string) {
			if !kept[k] {
				v = "<value>"
			}
			pairs = append(pairs, k+" => "+v)
		}
		for i := 0; i < len(lines); i++ {
			if k, v, ok := strings.Cut(lines[i], " => "); ok {
				add(k, v)
			} else if i+1 < len(lines) {
				add(lines[i], lines[i+1])
				i++
			} else {
				pairs = append(pairs, lines[i])
			}
		}
		sort.Strings(pairs)
		return strings.Join(pairs, "\n")
	}
}

// clientFields reduces CLIENT LIST / CLIENT INFO lines to the fields clients
// rely on: id and addr (present, values erased), name and db (compared).
func clientFields(s string) string {
	if strings.HasPrefix(s, "(error)") {
		return s
	}
	var out []string
	for _, seg := range strings.Split(strings.ReplaceAll(s, `\n`, "\n"), "\n") {
		if !strings.Contains(seg, "id=") {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Fields(strings.Trim(seg, `"`)) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		var b []string
		for _, k := range []string{"id", "addr", "name", "db"} {
			v, ok := f[k]
			switch {
			case !ok:
				v = "<missing>"
			case k == "id" && v != "":
				v = "N"
			case k == "addr" && reAddr.MatchString(v):
				v = "ADDR"
			}
			b = append(b, k+"="+v)
		}
		out = append(out, strings.Join(b, " "))
	}
	if len(out) == 0 {
		return "no client line in: " + s
	}
	return strings.Join(out, "\n")
}

// infoHas reduces an INFO reply to whether it contains each of the given
// substrings: INFO's contents are server-specific, but these are what tools
// (redis-benchmark, monitoring agents, client libraries) read.
func infoHas(subs ...string) normaliser {
	return func(s string) string {
		if strings.HasPrefix(s, "(error)") {
			return s
		}
		var out []string
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				out = append(out, sub+": present")
			} else {
				out = append(out, sub+": MISSING")
			}
		}
		return strings.Join(out, "\n")
	}
}

// slowlogEntries erases ids, timestamps, durations and client addresses
// from SLOWLOG GET, keeping each entry's arguments and client name.
func slowlogEntries(s string) string {
	return reAddr.ReplaceAllString(anyInteger(s), "ADDR")
}

// oneOf replaces a bulk reply that is any of keys by <one of ...>
// (RANDOMKEY).
func oneOf(keys ...string) normaliser {
	return func(s string) string {
		for _, k := range keys {
			if s == repr(k) {
				return "<one of " + strings.Join(keys, ",") + ">"
			}
		}
		return s
	}
}

// chain applies normalisers in order.
func chain(ns ...normaliser) normaliser {
	return func(s string) string {
		for _, n := range ns {
			s = n(s)
		}
		return s
	}
}
