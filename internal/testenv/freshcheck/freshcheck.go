// Package freshcheck is the referee of strata's randomized freshness tests:
// writers record each committed write (the row, its new version, a WAL
// position at or after its commit), readers record each read (the row, the
// version read, the position its node had applied when the read began),
// and Check counts the stale reads. A read is stale when it returns a
// version older than the newest write whose position the node had already
// applied when the read began.
package freshcheck

import (
	"fmt"
	"slices"
	"sync"
)

type write struct{ lsn, version uint64 }
type read struct{ applied, version uint64 }

// Log records writes and reads. Its methods are safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	writes map[int][]write
	reads  map[int][]read
}

// Write records that row id reached version in a commit at or before lsn.
func (l *Log) Write(id int, lsn, version uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writes == nil {
		l.writes = map[int][]write{}
	}
	l.writes[id] = append(l.writes[id], write{lsn, version})
}

// Read records that a read of row id, which began when its node had
// applied position applied, returned version.
func (l *Log) Read(id int, applied, version uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reads == nil {
		l.reads = map[int][]read{}
	}
	l.reads[id] = append(l.reads[id], read{applied, version})
}

// Result is what Check found.
type Result struct {
	// Reads is the number of reads; Checked those that began after at
	// least one write of their row was applied (the others prove nothing).
	Reads, Checked int
	// Violations counts stale reads; Examples describes the first five.
	Violations int
	Examples   []string
}

// Check counts the stale reads; name turns a row id into its key for the
// examples. Call it once the writers and readers have stopped.
func (l *Log) Check(name func(id int) string) Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	var res Result
	for id, rs := range l.reads {
		ws := l.writes[id]
		slices.SortFunc(ws, func(a, b write) int {
			switch {
			case a.lsn < b.lsn:
				return -1
			case a.lsn > b.lsn:
				return 1
			}
			return 0
		})
		for _, r := range rs {
			res.Reads++
			// The newest version whose commit the node had applied when
			// the read began.
			var want uint64
			for _, w := range ws {
				if w.lsn > r.applied {
					break
				}
				want = max(want, w.version)
			}
			if want > 0 {
				res.Checked++
			}
			if r.version < want {
				res.Violations++
				if len(res.Examples) < 5 {
					res.Examples = append(res.Examples, fmt.Sprintf("%s: read version %d after its node applied %X, which includes version %d",
						name(id), r.version, r.applied, want))
				}
			}
		}
	}
	return res
}
