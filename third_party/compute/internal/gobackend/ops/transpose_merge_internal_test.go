package ops

import (
	"slices"
	"testing"
)

// TestMergeTransposeAxes checks that axes of size 1 are dropped and operand axes that stay
// consecutive in the output are merged.
func TestMergeTransposeAxes(t *testing.T) {
	cases := []struct {
		dims, perm         []int
		wantDims, wantPerm []int
	}{
		{[]int{16, 256, 8, 32}, []int{0, 2, 3, 1}, []int{16, 256, 256}, []int{0, 2, 1}}, // attention k -> (b, h·d, n)
		{[]int{16, 8, 256, 32}, []int{0, 1, 3, 2}, []int{128, 256, 32}, []int{0, 2, 1}},
		{[]int{16, 256, 8, 32}, []int{0, 3, 1, 2}, []int{16, 2048, 32}, []int{0, 2, 1}},
		{[]int{16, 256, 8, 32}, []int{0, 2, 1, 3}, []int{16, 256, 8, 32}, []int{0, 2, 1, 3}},
		{[]int{4096, 256}, []int{1, 0}, []int{4096, 256}, []int{1, 0}},
		{[]int{4096, 256}, []int{0, 1}, []int{4096 * 256}, []int{0}},
		{[]int{1, 7, 1, 5}, []int{2, 1, 3, 0}, []int{35}, []int{0}},                      // only size-1 axes move
		{[]int{3, 1, 4, 5}, []int{2, 1, 3, 0}, []int{3, 20}, []int{1, 0}},                // size 1 between merged axes
		{[]int{2, 3, 1, 4}, []int{3, 0, 2, 1}, []int{6, 4}, []int{1, 0}},                 // the size-1 axis does not separate 0 and 1
		{[]int{1, 1}, []int{1, 0}, []int{}, []int{}},                                     // a single element
		{[]int{2, 3, 4, 5, 6}, []int{3, 4, 0, 1, 2}, []int{24, 30}, []int{1, 0}},         // two groups
		{[]int{5, 1, 6, 1, 7}, []int{4, 3, 0, 1, 2}, []int{30, 7}, []int{1, 0}},          // size 1 in both
		{[]int{2, 3, 5, 4}, []int{3, 0, 2, 1}, []int{2, 3, 5, 4}, []int{3, 0, 2, 1}},     // nothing to merge
		{[]int{2, 2, 2, 2}, []int{1, 0, 3, 2}, []int{2, 2, 2, 2}, []int{1, 0, 3, 2}},     // swaps in pairs
		{[]int{2, 3, 4, 5}, []int{0, 1, 3, 2}, []int{6, 4, 5}, []int{0, 2, 1}},           // batch of two axes
		{[]int{6, 1, 1, 9}, []int{3, 1, 2, 0}, []int{6, 9}, []int{1, 0}},                 // plain 2-D in disguise
		{[]int{3, 4, 5}, []int{2, 0, 1}, []int{12, 5}, []int{1, 0}},                      // leading axes merge
		{[]int{3, 4, 5}, []int{1, 2, 0}, []int{3, 20}, []int{1, 0}},                      // trailing axes merge
		{[]int{1, 4, 1, 5}, []int{0, 1, 2, 3}, []int{20}, []int{0}},                      // identity
		{[]int{8, 1, 4}, []int{1, 2, 0}, []int{8, 4}, []int{1, 0}},                       // size-1 axis moves too
		{[]int{2, 3}, []int{0, 1}, []int{6}, []int{0}},                                   // identity 2-D
		{[]int{1}, []int{0}, []int{}, []int{}},                                           // one element, rank 1
		{[]int{4, 4, 4}, []int{2, 1, 0}, []int{4, 4, 4}, []int{2, 1, 0}},                 // full reversal
		{[]int{2, 3, 4, 5}, []int{2, 3, 0, 1}, []int{6, 20}, []int{1, 0}},                // block swap
		{[]int{2, 3, 4, 5}, []int{1, 2, 3, 0}, []int{2, 60}, []int{1, 0}},                // rotate left
		{[]int{2, 3, 4, 5}, []int{3, 0, 1, 2}, []int{24, 5}, []int{1, 0}},                // rotate right
		{[]int{16, 16, 16, 640}, []int{0, 1, 2, 3}, []int{16 * 16 * 16 * 640}, []int{0}}, // large identity
	}
	for _, c := range cases {
		dims, perm := mergeTransposeAxes(c.dims, c.perm)
		if !slices.Equal(dims, c.wantDims) || !slices.Equal(perm, c.wantPerm) {
			t.Errorf("mergeTransposeAxes(%v, %v) = %v, %v; want %v, %v", c.dims, c.perm, dims, perm, c.wantDims, c.wantPerm)
		}
	}
}
