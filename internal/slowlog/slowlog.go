// Package slowlog is strata's slow-command log: a bounded ring of the most
// recent commands that took longer than a threshold. The RESP front end feeds
// it and answers SLOWLOG from it; the web console reads it too.
//
// Entries keep copies of (truncated) arguments, never references into a
// connection's read buffer, because the log outlives the command.
package slowlog

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The truncation bounds Redis applies to logged commands.
const (
	// MaxArgs is how many arguments an entry keeps; the last kept slot says
	// how many more there were.
	MaxArgs = 32
	// MaxArgLen is how many bytes of each argument an entry keeps; a longer
	// argument ends with "... (N more bytes)".
	MaxArgLen = 128
)

// Defaults match Redis's slowlog-log-slower-than and slowlog-max-len.
const (
	DefaultThreshold = 10 * time.Millisecond
	DefaultMaxLen    = 128
)

// Entry is one logged command.
type Entry struct {
	// ID is unique and increasing for the life of the Log (Reset does not
	// restart it), as in Redis.
	ID int64
	// Time is when the command started.
	Time time.Time
	// Duration is how long the command ran.
	Duration time.Duration
	// Args are the command name and arguments, truncated as Redis does.
	Args []string
	// ClientAddr is the peer address, ClientName the name it set.
	ClientAddr string
	ClientName string
}

// Log is a ring of the newest entries. It is safe for concurrent use; the
// zero value is not usable, call New.
type Log struct {
	// threshold is read on every command, so it is an atomic rather than
	// under mu: commands faster than it never touch the lock.
	threshold atomic.Int64

	mu     sync.Mutex
	maxLen int
	ring   []Entry // newest last; len(ring) <= maxLen
	nextID int64
}

// New returns an empty Log. A negative threshold disables logging, zero
// logs every command (Redis's slowlog-log-slower-than semantics).
func New(threshold time.Duration, maxLen int) *Log {
	l := &Log{maxLen: max(maxLen, 0)}
	l.threshold.Store(int64(threshold))
	return l
}

// Threshold returns the current threshold.
func (l *Log) Threshold() time.Duration { return time.Duration(l.threshold.Load()) }

// SetThreshold changes the threshold; negative disables the log.
func (l *Log) SetThreshold(d time.Duration) { l.threshold.Store(int64(d)) }

// MaxLen returns how many entries the log keeps.
func (l *Log) MaxLen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxLen
}

// SetMaxLen changes how many entries the log keeps, dropping the oldest.
func (l *Log) SetMaxLen(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxLen = max(n, 0)
	l.trim()
}

// Slow reports whether a command that ran for d should be logged. It is the
// cheap check callers make before building an entry.
func (l *Log) Slow(d time.Duration) bool {
	t := l.threshold.Load()
	return t >= 0 && int64(d) >= t
}

// Add records a command that started at start and ran for d, if it is slow.
// args are copied and truncated; the caller may reuse them afterwards.
func (l *Log) Add(start time.Time, d time.Duration, args [][]byte, addr, name string) {
	if !l.Slow(d) {
		return
	}
	e := Entry{Time: start, Duration: d, Args: Truncate(args), ClientAddr: addr, ClientName: name}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID = l.nextID
	l.nextID++
	if l.maxLen == 0 {
		return
	}
	l.ring = append(l.ring, e)
	l.trim()
}

func (l *Log) trim() {
	if n := len(l.ring) - l.maxLen; n > 0 {
		l.ring = append(l.ring[:0:0], l.ring[n:]...)
	}
}

// Get returns up to n entries, newest first; n < 0 returns all.
func (l *Log) Get(n int) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 0 || n > len(l.ring) {
		n = len(l.ring)
	}
	out := make([]Entry, 0, n)
	for i := len(l.ring) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, l.ring[i])
	}
	return out
}

// Len returns the number of entries held.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ring)
}

// Reset removes every entry.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring = nil
}

// Truncate copies args into strings as Redis's slow log keeps them: at most
// MaxArgs arguments, the last of which becomes "... (N more arguments)" when
// some were dropped, and each at most MaxArgLen bytes followed by
// "... (N more bytes)".
func Truncate(args [][]byte) []string {
	n := len(args)
	if n > MaxArgs {
		n = MaxArgs
	}
	out := make([]string, n)
	for i := range n {
		if i == MaxArgs-1 && len(args) > MaxArgs {
			out[i] = "... (" + strconv.Itoa(len(args)-MaxArgs+1) + " more arguments)"
			break
		}
		a := args[i]
		if len(a) > MaxArgLen {
			out[i] = string(a[:MaxArgLen]) + "... (" + strconv.Itoa(len(a)-MaxArgLen) + " more bytes)"
		} else {
			out[i] = string(a)
		}
	}
	return out
}
