package gemma

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestTorchGolden compares Forward with testdata/gemma2_golden.json, written by an independent
// PyTorch implementation (testdata/gemma2_golden.py, Debian's torch 1.13, float32): two layers
// (sliding then full), grouped heads, a padded row whose padded queries see no key in the
// sliding layer, with and without the soft-cap. The config goes through ParseConfig.
func TestTorchGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/gemma2_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Config          json.RawMessage      `json:"config"`
		Weights         map[string][]float64 `json:"weights"`
		IDs             [][]int              `json:"ids"`
		Mask            [][]int              `json:"mask"`
		HiddenSoftcap   []float64            `json:"hidden_softcap"`
		HiddenNoSoftcap []float64            `json:"hidden_no_softcap"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	p := make(Params)
	for _, s := range ParamSpecs(c) {
		v, ok := g.Weights[s.Name]
		if !ok {
			t.Fatalf("golden file lacks %s", s.Name)
		}
		f32, err := ConvertTensor(tensors.FromFlatDataAndDimensions(v, s.Dims...), dtypes.Float32)
		if err != nil {
			t.Fatal(err)
		}
		p[s.Name] = f32
	}
	B, T := len(g.IDs), len(g.IDs[0])
	ids := make([]int32, 0, B*T)
	mask := make([]float32, 0, B*T)
	for b := range B {
		for j := range T {
			ids = append(ids, int32(g.IDs[b][j]))
			mask = append(mask, float32(g.Mask[b][j]))
		}
	}
	for _, tc := range []struct {
		name  string
		noCap bool
		want  []float64
	}{{"soft-cap", false, g.HiddenSoftcap}, {"no soft-cap", true, g.HiddenNoSoftcap}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRunner(testBackend(t), c, p, Options{NoSoftCap: tc.noCap})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			out, err := r.Hidden(tensors.FromFlatDataAndDimensions(ids, B, T), tensors.FromFlatDataAndDimensions(mask, B, T))
			if err != nil {
				t.Fatal(err)
			}
			got := values64(t, out)
			d, at := maxAbsDiff(got, tc.want)
			t.Logf("max |Go − torch| = %.3g over %d values", d, len(got))
			if d > 1e-5 {
				t.Errorf("value %d: Go %.7g, torch %.7g", at, got[at], tc.want[at])
			}
		})
	}
}
