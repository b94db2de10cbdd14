package data

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
)

// TestCodec converts through every path (aligned views and the unaligned fallback) and finds the first
// non-finite value wherever it is, including the tail after the 4-wide loops.
func TestCodec(t *testing.T) {
	vals := []float32{0, 1, -2.5, 0.125, 65504, -0.0009765625, 3, 7}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float16, dtypes.BFloat16} {
		for _, n := range []int{1, 3, 4, 7, 9} {
			for _, misalign := range []int{0, 1} {
				src := make([]float32, n)
				for i := range src {
					src[i] = vals[i%len(vals)]
				}
				if dt == dtypes.BFloat16 {
					for i := range src {
						src[i] = bfloat16.FromFloat32(src[i]).Float32()
					}
				}
				buf := make([]byte, misalign, misalign+n*dt.Size())
				raw := encodeFloat32(buf, src, dt)[misalign:]
				name := fmt.Sprintf("%s/n=%d/misaligned=%d", DTypeName(dt), n, misalign)
				got := make([]float32, n)
				if bad := decodeToFloat32(got, raw, dt); bad != -1 || !slices.Equal(got, src) {
					t.Fatalf("%s: decoded %v (bad %d), want %v", name, got, bad, src)
				}
				// Same-dtype 16-bit outputs are bit copies.
				switch dt {
				case dtypes.Float16:
					out := make([]float16.Float16, n+2)
					if bad, err := decodeInto(out, 2, raw, dt); err != nil || bad != -1 || out[2].Float32() != src[0] {
						t.Fatalf("%s: float16 output %v (bad %d, %v)", name, out, bad, err)
					}
				case dtypes.BFloat16:
					out := make([]bfloat16.BFloat16, n+2)
					if bad, err := decodeInto(out, 2, raw, dt); err != nil || bad != -1 || out[n+1].Float32() != src[n-1] {
						t.Fatalf("%s: bfloat16 output %v (bad %d, %v)", name, out, bad, err)
					}
				}
				for pos := 0; pos < n; pos++ {
					for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
						bad := slices.Clone(src)
						bad[pos] = float32(v)
						braw := encodeFloat32(make([]byte, misalign, misalign+n*dt.Size()), bad, dt)[misalign:]
						if got := decodeToFloat32(make([]float32, n), braw, dt); got != pos {
							t.Fatalf("%s: %v at %d reported at %d", name, v, pos, got)
						}
						if got := firstNonFinite(braw, dt); got != pos {
							t.Fatalf("%s: firstNonFinite %v at %d reported at %d", name, v, pos, got)
						}
						for _, out := range []any{make([]float32, n), make([]float16.Float16, n), make([]bfloat16.BFloat16, n)} {
							if got, _ := decodeInto(out, 0, braw, dt); got != pos {
								t.Fatalf("%s: decodeInto(%T) %v at %d reported at %d", name, out, v, pos, got)
							}
						}
					}
				}
			}
		}
	}
	// The float16 table agrees with the library conversion on every bit pattern.
	table := float16Table()
	for i := 0; i < 1<<16; i++ {
		want := float16.Float16(i).Float32()
		if got := table[i]; math.Float32bits(got) != math.Float32bits(want) && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
			t.Fatalf("float16 %#04x: table %v, want %v", i, got, want)
		}
	}
}

// TestRecycledBuffersStayCorrect reads an Arrow dataset for several epochs with and without the group
// cache (buffers are recycled between groups) and compares every value with a fresh decode.
func TestRecycledBuffersStayCorrect(t *testing.T) {
	latent := [3]int{4, 64, 64} // 64 KiB float32 latents: large enough for the recycler
	dir := t.TempDir()
	w, err := NewWriter(dir, WriterOptions{Format: FormatArrow, MaxRows: 12, GroupBytes: 150 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := w.Write(testRow(i, latent, testText)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, cache := range []int64{-1, 300 << 10, 1 << 30} {
		r := mustOpen(t, []string{dir}, ReaderOptions{BatchSize: 4, Shuffle: true, Seed: 2, Prefetch: 3, Workers: 3, CacheBytes: cache})
		bs := collect(t, r, Position{}, 3*r.StepsPerEpoch())
		n := latent[0] * latent[1] * latent[2]
		for _, b := range bs {
			lat := float32s(t, b.Latent)
			for k, key := range b.Keys {
				var id int
				fmt.Sscanf(key, "row-%d", &id)
				want := testRow(id, latent, testText)
				if !slices.Equal(lat[k*n:(k+1)*n], want.Latent) || b.Prompts[k] != want.Prompt {
					t.Fatalf("cache %d: batch %d/%d row %s holds other data", cache, b.Epoch, b.Index, key)
				}
			}
		}
		row, err := r.ReadRow(context.Background(), RowRef{Shard: r.Shards()[1].Path, Row: 3})
		if err != nil || row.Key != "row-00015" {
			t.Fatalf("ReadRow: %v %v", row.Key, err)
		}
	}
}
