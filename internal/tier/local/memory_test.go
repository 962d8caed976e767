package local

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/strata-cache/strata/internal/cache"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// key16 returns a 16-byte key for i.
func key16(i uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], 0x6b65793a6b65793a) // "key:key:"
	binary.BigEndian.PutUint64(b[8:], i)
	return string(b[:])
}

// TestEntryOverhead measures the heap that one small entry costs beyond its
// key and value bytes, and fails if EntryOverhead under-accounts it. The
// figures it logs are the ones in EntryOverhead's comment.
func TestEntryOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 300 MB")
	}
	for _, n := range []int{300_000} {
		const valueSize = 16
		keys := make([]string, n) // built before the baseline: the caller owns them
		for i := range keys {
			keys[i] = key16(uint64(i))
		}
		base := heapInUse()
		tr := New(Config{MaxBytes: 1 << 40}) // no eviction
		for _, k := range keys {
			tr.Set(k, cache.Entry{Value: make([]byte, valueSize)})
		}
		tr.CleanUp()
		heap := heapInUse() - base
		perEntry := float64(heap)/float64(n) - float64(valueSize)
		t.Logf("%d entries, 16 B keys (not counted: the caller's), %d B values: heap %.1f MiB, %.1f B per entry beyond key and value; accounted %d B",
			n, valueSize, float64(heap)/(1<<20), perEntry, tr.UsedBytes()/uint64(n))
		// The key is the caller's string, which the tier keeps: counting its
		// 16 bytes in the weight and not here makes the comparison fair.
		if perEntry > EntryOverhead {
			t.Errorf("an entry costs %.1f B of heap beyond its value, EntryOverhead is %d", perEntry, EntryOverhead)
		}
		if tr.Len() != n {
			t.Fatalf("Len %d", tr.Len())
		}
		tr.Close()
		runtime.KeepAlive(tr)
		runtime.KeepAlive(keys)
	}
}

// TestMemoryBound fills a 64 MiB tier with twice that much data (16-byte
// keys, values of 16 B to 4 KiB) and checks the accounted bytes, the
// evictions and the heap.
//
// The heap may exceed MaxBytes by the allowance memoryBoundSlack documents.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 200 MB")
	}
	const maxBytes = 64 << 20
	base := heapInUse()
	tr := New(Config{MaxBytes: maxBytes})
	defer tr.Close()

	rng := rand.New(rand.NewPCG(1, 1))
	var written, n uint64
	for i := uint64(0); written < 2*maxBytes; i++ {
		size := 16 << rng.IntN(9) // 16 B .. 4 KiB, log-uniform
		size += rng.IntN(size)    // and between the powers of two
		size = min(size, 4096)
		k := key16(i)
		e := cache.Entry{Value: make([]byte, size)}
		tr.Set(k, e)
		written += tr.Weight(k, e)
		n++
	}
	tr.CleanUp()
	st := tr.Stats()
	heap := heapInUse() - base
	t.Logf("wrote %d entries, %.1f MiB accounted; kept %d entries, UsedBytes %.1f MiB of %d MiB; %d evictions; heap %.1f MiB (%.1f%% of MaxBytes)",
		n, float64(written)/(1<<20), st.Keys, float64(st.UsedBytes)/(1<<20), maxBytes>>20, st.Evictions, float64(heap)/(1<<20), 100*float64(heap)/maxBytes)
	if st.UsedBytes > maxBytes {
		t.Errorf("UsedBytes %d > MaxBytes %d", st.UsedBytes, maxBytes)
	}
	if st.Evictions == 0 || st.Evictions+st.Keys != n {
		t.Errorf("Evictions %d + Keys %d != %d entries written", st.Evictions, st.Keys, n)
	}
	if limit := maxBytes + memoryBoundSlack(maxBytes); heap > limit {
		t.Errorf("heap %d B > MaxBytes + slack = %d B", heap, limit)
	}
	runtime.KeepAlive(tr)
}

// memoryBoundSlack is how far the heap may exceed MaxBytes: Go's size classes
// round a value's allocation up by up to 12.5% (1/8) beyond its capacity,
// which is what the weight counts, and the tier has fixed costs (the frequency
// sketch, otter's buffers, 1,024 index shards) of a few MiB.
func memoryBoundSlack(maxBytes uint64) uint64 { return maxBytes/8 + 8<<20 }
