// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package gobackend_test

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/internal/gobackend"
	"github.com/gomlx/compute/shapes"
)

// TestBuffersSIMDTailPad: every buffer, new or reused from the pool, has at least SIMDTailPad
// bytes of its allocation after the end of its data, so that a SIMD partial load of its last
// elements (a whole vector read, then masked) stays inside the allocation. [65536, 12] float32
// is 3 MiB, a bucket size exactly: the shape of the broadcast Add that faulted without the pad.
func TestBuffersSIMDTailPad(t *testing.T) {
	b := backend.(*gobackend.Backend)
	for _, shape := range []shapes.Shape{
		shapes.Make(dtypes.Int32, 3),
		shapes.Make(dtypes.Float32, 65536, 12),
		shapes.Make(dtypes.Float32, 7, 5),
		shapes.Make(dtypes.Float64, 1024),
	} {
		for round := range 2 { // a new buffer, then the same one back from the pool
			buf, err := b.GetBuffer(shape)
			if err != nil {
				t.Fatal(err)
			}
			dataBytes := shape.DType.SizeForDimensions(shape.Size())
			if len(buf.RawBytes) < dataBytes {
				t.Fatalf("%s: %d bytes for %d of data", shape, len(buf.RawBytes), dataBytes)
			}
			if pad := cap(buf.RawBytes) - len(buf.RawBytes); pad < gobackend.SIMDTailPad {
				t.Errorf("%s (round %d): %d bytes after the buffer, want >= %d", shape, round, pad, gobackend.SIMDTailPad)
			}
			b.PutBuffer(buf)
		}
	}
}
