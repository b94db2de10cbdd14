// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package gobackend

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/compute/support/testutil"
)

func TestBroadcastIterator(t *testing.T) {
	S := func(dims ...int) shapes.Shape {
		return shapes.Make(dtypes.Float32, dims...)
	}

	t.Run("[2,1] -> [2, 3]", func(t *testing.T) {
		targetShape := S(2, 3)
		bi := NewBroadcastIterator(S(2, 1), targetShape)
		srcIndices := make([]int, 0, targetShape.Size())
		for srcIdx := range bi.IterFlatIndices() {
			srcIndices = append(srcIndices, srcIdx)
		}
		if ok, diff := testutil.IsEqual([]int{0, 0, 0, 1, 1, 1}, srcIndices); !ok {
			t.Errorf("srcIndices mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("[1,3] -> [2, 3]", func(t *testing.T) {
		targetShape := S(2, 3)
		bi := NewBroadcastIterator(S(1, 3), targetShape)
		srcIndices := make([]int, 0, targetShape.Size())
		for srcIdx := range bi.IterFlatIndices() {
			srcIndices = append(srcIndices, srcIdx)
		}
		if ok, diff := testutil.IsEqual([]int{0, 1, 2, 0, 1, 2}, srcIndices); !ok {
			t.Errorf("srcIndices mismatch (-want +got):\n%s", diff)
		}
	})

	// Alternating broadcast axes.
	t.Run("[3,1,4,1] -> [3,2,4,2]", func(t *testing.T) {
		targetShape := S(3, 2, 4, 2)
		bi := NewBroadcastIterator(S(3, 1, 4, 1), targetShape)
		srcIndices := make([]int, 0, targetShape.Size())
		for srcIdx := range bi.IterFlatIndices() {
			srcIndices = append(srcIndices, srcIdx)
		}
		want := []int{
			0, 0, 1, 1, 2, 2, 3, 3,
			0, 0, 1, 1, 2, 2, 3, 3,
			4, 4, 5, 5, 6, 6, 7, 7,
			4, 4, 5, 5, 6, 6, 7, 7,
			8, 8, 9, 9, 10, 10, 11, 11,
			8, 8, 9, 9, 10, 10, 11, 11}
		if ok, diff := testutil.IsEqual(want, srcIndices); !ok {
			fmt.Printf("\t- want: %#v\n", want)
			fmt.Printf("\t- got:  %#v\n", srcIndices)
			t.Errorf("srcIndices mismatch (-want +got):\n%s", diff)
		}
	})
}

// TestDetermineBroadcastConfigMiddle checks the classification of middle broadcasts: the sizes of
// the outer, repeated and inner blocks, and the shapes that are not of that pattern.
func TestDetermineBroadcastConfigMiddle(t *testing.T) {
	S := func(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
	cases := []struct {
		lhs, rhs, tgt shapes.Shape
		pattern       BroadcastPattern
		a, m, b       int
	}{
		{S(2, 3, 4), S(2, 1, 4), S(2, 3, 4), BroadcastMiddleRHS, 2, 3, 4},
		{S(2, 1, 4), S(2, 3, 4), S(2, 3, 4), BroadcastMiddleLHS, 2, 3, 4},
		{S(3, 4, 2, 5), S(3, 1, 1, 5), S(3, 4, 2, 5), BroadcastMiddleRHS, 3, 8, 5},
		{S(2, 1, 5, 1, 7), S(2, 1, 1, 1, 7), S(2, 1, 5, 1, 7), BroadcastMiddleRHS, 2, 5, 7},
		{S(2, 3, 4, 5), S(2, 1, 4, 1), S(2, 3, 4, 5), BroadcastGeneral, 0, 0, 0}, // two repeated blocks
		{S(2, 3, 4), S(2, 1, 1), S(2, 3, 4), BroadcastTrailingRHS, 2, 0, 12},     // no inner block
		{S(2, 3, 4), S(1, 1, 4), S(2, 3, 4), BroadcastLeadingRHS, 6, 0, 4},       // no outer block
		{S(2, 1, 4), S(1, 3, 4), S(2, 3, 4), BroadcastGeneral, 0, 0, 0},          // both repeat
	}
	for _, c := range cases {
		cfg := DetermineBroadcastConfig(c.lhs, c.rhs, c.tgt)
		if cfg.Pattern != c.pattern || cfg.A != c.a || cfg.M != c.m || cfg.B != c.b {
			t.Errorf("%s ⊙ %s: got pattern %d (A=%d M=%d B=%d), want %d (A=%d M=%d B=%d)",
				c.lhs, c.rhs, cfg.Pattern, cfg.A, cfg.M, cfg.B, c.pattern, c.a, c.m, c.b)
		}
		if cfg.Pattern != BroadcastNone && cfg.ZipIter == nil &&
			(cfg.Pattern == BroadcastGeneral || cfg.Pattern == BroadcastMiddleRHS || cfg.Pattern == BroadcastMiddleLHS) {
			t.Errorf("%s ⊙ %s: pattern %d without the ZipIter the generic executors need", c.lhs, c.rhs, cfg.Pattern)
		}
	}
}
