package data

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// recycleMin is the smallest allocation the recycler pools; smaller ones go to arrow's Go allocator.
const recycleMin = 64 << 10

// recycler is an arrow memory.Allocator that hands freed large buffers out again instead of leaving
// them to the garbage collector: reading a 1.4 MB row otherwise costs several fresh, zeroed
// allocations. Recycled buffers are NOT zeroed, so it is used only where arrow overwrites every byte
// it allocates: the Arrow IPC file reader (message bodies and record buffers are filled by ReadAt or
// decompression). Buffers come back through Free when a group's record is released.
type recycler struct {
	pools [64]sync.Pool // by power-of-two capacity
}

func (r *recycler) Allocate(n int) []byte {
	if n < recycleMin {
		return memory.DefaultAllocator.Allocate(n)
	}
	k := bits.Len(uint(n - 1))
	if p, ok := r.pools[k].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	// Large Go allocations are page-aligned, beyond arrow's 64-byte alignment.
	return make([]byte, n, 1<<k)
}

func (r *recycler) Reallocate(n int, b []byte) []byte {
	if n <= cap(b) && cap(b) >= recycleMin {
		return b[:n]
	}
	nb := r.Allocate(n)
	copy(nb, b)
	r.Free(b)
	return nb
}

func (r *recycler) Free(b []byte) {
	c := cap(b)
	if c < recycleMin || c&(c-1) != 0 {
		memory.DefaultAllocator.Free(b)
		return
	}
	b = b[:c]
	r.pools[bits.Len(uint(c-1))].Put(&b)
}
