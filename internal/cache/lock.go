package cache

import "sync"

// bigLockStripes is the number of reader stripes of a BigLock.
const bigLockStripes = 32

// BigLock is a reader-writer lock whose readers spread over stripes, so that
// the common case (single-key commands on many connections) does not bounce
// one cache line between cores the way a single sync.RWMutex would. Writers
// (multi-key commands, MULTI/EXEC, FLUSHALL) take every stripe, in order.
type BigLock struct {
	stripes [bigLockStripes]struct {
		sync.RWMutex
		_ [40]byte
	}
}

// RLock takes the shared side on the stripe chosen by slot (a connection id
// works well) and returns the stripe to pass to RUnlock.
func (l *BigLock) RLock(slot uint64) int {
	i := int(slot % bigLockStripes)
	l.stripes[i].RLock()
	return i
}

// RUnlock releases the shared side taken by RLock.
func (l *BigLock) RUnlock(stripe int) { l.stripes[stripe].RUnlock() }

// Lock takes the exclusive side.
func (l *BigLock) Lock() {
	for i := range l.stripes {
		l.stripes[i].Lock()
	}
}

// Unlock releases the exclusive side.
func (l *BigLock) Unlock() {
	for i := len(l.stripes) - 1; i >= 0; i-- {
		l.stripes[i].Unlock()
	}
}
