package gemma

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

// testBackend is the shared test backend (internal/testbackend).
func testBackend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// tinyConfig is a 3-layer Gemma-2 of width 8: 4 query heads sharing 2 key/value heads of width
// 4 (so head groups matter), MLP width 12, vocabulary 40, sliding window 3 on layers 0 and 2.
func tinyConfig() Config {
	return Config{
		VocabSize: 40, HiddenSize: 8, IntermediateSize: 12, NumLayers: 3,
		NumHeads: 4, NumKVHeads: 2, HeadDim: 4, HiddenActivation: GELUTanh,
		MaxPositionEmbeddings: 64, RMSNormEps: 1e-6, RopeTheta: 10000, QueryPreAttnScalar: 4,
		SlidingWindow: 3, LayerTypes: DefaultLayerTypes(3), AttnLogitSoftcapping: 2.5,
		PadTokenID: 0, BOSTokenID: 2, EOSTokenIDs: []int{1},
	}
}

// randomValues draws every parameter: projections ~ N(0, 1/fan_in)·gain, norm weights
// N(0, 0.3²) (offsets from one), the embedding N(0, 1).
func randomValues(c Config, seed uint64, gain float64) map[string][]float64 {
	rng := rand.New(rand.NewPCG(seed, 5))
	vals := make(map[string][]float64)
	for _, s := range ParamSpecs(c) {
		v := make([]float64, s.Size())
		std := 0.3
		switch {
		case s.Name == EmbedTokens:
			std = 1
		case len(s.Dims) == 2:
			std = gain / math.Sqrt(float64(s.Dims[1]))
		}
		for i := range v {
			v[i] = rng.NormFloat64() * std
		}
		vals[s.Name] = v
	}
	return vals
}

// paramsFrom turns float64 values into Params of dtype dt.
func paramsFrom(t testing.TB, c Config, vals map[string][]float64, dt dtypes.DType) Params {
	t.Helper()
	p := make(Params)
	for _, s := range ParamSpecs(c) {
		f64 := tensors.FromFlatDataAndDimensions(vals[s.Name], s.Dims...)
		ct, err := ConvertTensor(f64, dt)
		if err != nil {
			t.Fatal(err)
		}
		p[s.Name] = ct
	}
	return p
}

// idsTensor builds int32 ids (B, T) and the float32 mask (B, T) from ragged token lists,
// right-padded with pad.
func idsTensor(rows [][]int, T, pad int) (ids, mask *tensors.Tensor) {
	B := len(rows)
	flat := make([]int32, B*T)
	m := make([]float32, B*T)
	for b, r := range rows {
		for j := range T {
			if j < len(r) {
				flat[b*T+j], m[b*T+j] = int32(r[j]), 1
			} else {
				flat[b*T+j] = int32(pad)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(flat, B, T), tensors.FromFlatDataAndDimensions(m, B, T)
}

// run1 executes a one-output graph function on the test backend.
func run1(t testing.TB, fn func(g *graph.Graph) *graph.Node) *tensors.Tensor {
	t.Helper()
	exec, err := graph.NewExec(testBackend(t), fn)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Call()
	if err != nil {
		t.Fatal(err)
	}
	if err := out[0].ToLocal(); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// values64 returns any float tensor's values as float64s.
func values64(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	f, err := ConvertTensor(x, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float64](f)
}

// maxAbsDiff returns max |a−b| and its index.
func maxAbsDiff(a, b []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range a {
		if d := math.Abs(a[i] - b[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
			if math.IsNaN(d) {
				return math.Inf(1), i
			}
		}
	}
	return worst, at
}

// floatTensor is a float64 tensor of the given values.
func floatTensor(vals []float64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(vals, dims...)
}

// shape is shorthand for shapes.Make.
func shape(dt dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dt, dims...) }

// contains reports whether s contains every part.
func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
