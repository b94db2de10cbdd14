package gemma

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// tinyBatch is two rows of the tiny vocabulary: a full one and one right-padded by four, so that
// in the sliding layers (window 3) padded queries 5 and 6 have no allowed key at all.
func tinyBatch() (rows [][]int, T int) {
	return [][]int{{2, 5, 7, 11, 13, 17, 19}, {2, 23, 29}}, 7
}

// refFor runs refForward on the tiny batch.
func refFor(c Config, vals map[string][]float64, rows [][]int, T int, softcap bool) []float64 {
	ids := make([][]int, len(rows))
	mask := make([][]float64, len(rows))
	for b, r := range rows {
		ids[b] = make([]int, T)
		mask[b] = make([]float64, T)
		for j := range T {
			if j < len(r) {
				ids[b][j], mask[b][j] = r[j], 1
			}
		}
	}
	out := refForward(c, vals, ids, mask, softcap)
	var flat []float64
	for _, row := range out {
		for _, v := range row {
			flat = append(flat, v...)
		}
	}
	return flat
}

// TestForwardMatchesReference runs the whole tiny model (3 layers, sliding + full, grouped
// heads, padding) through Runner and compares it with the plain-Go float64 loops.
func TestForwardMatchesReference(t *testing.T) {
	c := tinyConfig()
	vals := randomValues(c, 1, 2)
	rows, T := tinyBatch()
	ids, mask := idsTensor(rows, T, c.PadTokenID)
	for _, tc := range []struct {
		name    string
		dt      dtypes.DType
		noCap   bool
		maxDiff float64
	}{
		{"float32", dtypes.Float32, false, 1e-5},
		{"float32 no soft-cap", dtypes.Float32, true, 1e-5},
		{"bfloat16", dtypes.BFloat16, false, 0.15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRunner(testBackend(t), c, paramsFrom(t, c, vals, tc.dt), Options{NoSoftCap: tc.noCap})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			out, err := r.Hidden(ids, mask)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Shape(); got.DType != dtypes.Float32 || got.Rank() != 3 || got.Dimensions[0] != 2 || got.Dimensions[1] != T || got.Dimensions[2] != c.HiddenSize {
				t.Fatalf("output shape %s, want float32 (2, %d, %d)", got, T, c.HiddenSize)
			}
			want := refFor(c, vals, rows, T, !tc.noCap)
			got := values64(t, out)
			d, at := maxAbsDiff(got, want)
			t.Logf("max |Forward − reference| = %.3g over %d values", d, len(got))
			if d > tc.maxDiff {
				t.Errorf("max |Forward − reference| = %.3g at %d (got %g, want %g), want ≤ %g", d, at, got[at], want[at], tc.maxDiff)
			}
		})
	}
	// float64 weights straight through Forward (the Runner's output is float32).
	t.Run("float64", func(t *testing.T) {
		p := paramsFrom(t, c, vals, dtypes.Float64)
		out := run1(t, func(g *graph.Graph) *graph.Node {
			return Forward(c, WeightsFromParams(g, p), graph.ConstTensor(g, ids), graph.ConstTensor(g, mask), Options{})
		})
		if out.DType() != dtypes.Float64 {
			t.Fatalf("float64 weights gave %s outputs", out.DType())
		}
		if d, at := maxAbsDiff(values64(t, out), refFor(c, vals, rows, T, true)); d > 1e-10 {
			t.Errorf("max |Forward − reference| = %.3g at %d, want ≤ 1e-10", d, at)
		}
	})
	// The soft-cap must matter on this model, or the cases above would not test it.
	on, off := refFor(c, vals, rows, T, true), refFor(c, vals, rows, T, false)
	if d, _ := maxAbsDiff(on, off); d < 1e-2 {
		t.Errorf("soft-cap changes outputs by only %g: the test model does not exercise it", d)
	}
}

// TestRunnerRejectsBadInput checks that ids outside the vocabulary and mis-shaped masks are
// errors, not panics.
func TestRunnerRejectsBadInput(t *testing.T) {
	c := tinyConfig()
	r, err := NewRunner(testBackend(t), c, paramsFrom(t, c, randomValues(c, 2, 1), dtypes.Float32), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids, mask := idsTensor([][]int{{2, 40}}, 2, 0)
	if _, err := r.Hidden(ids, mask); err == nil || !containsAll(err.Error(), "id 40", "vocabulary") {
		t.Errorf("id 40 of 40: err = %v", err)
	}
	ids, _ = idsTensor([][]int{{2, 3}}, 2, 0)
	_, mask = idsTensor([][]int{{2, 3, 4}}, 3, 0)
	if _, err := r.Hidden(ids, mask); err == nil {
		t.Error("mask (1, 3) for ids (1, 2): no error")
	}
	p := paramsFrom(t, c, randomValues(c, 2, 1), dtypes.Float32)
	delete(p, FinalNorm)
	if _, err := NewRunner(testBackend(t), c, p, Options{}); err == nil || !containsAll(err.Error(), "missing", FinalNorm) {
		t.Errorf("missing final norm: err = %v", err)
	}
}
