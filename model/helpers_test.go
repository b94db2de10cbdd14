package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

// testBackend is the shared pure-Go test backend (never the auto-installing XLA one).
func testBackend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// tinyConfig returns the tiny preset resolved, in the given dtype.
func tinyConfig(t testing.TB, dtype string) Config {
	t.Helper()
	c := DefaultConfig()
	c.Preset = PresetTiny
	c.DType = dtype
	c, err := c.resolvedValid()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// randomParams draws every parameter at random (weights ~ N(0, 1/fan_in), vectors ~ N(0, 0.3²),
// norm weights around 1), so that no branch of the network is switched off by a zero init.
func randomParams(t testing.TB, cfg Config, role Role, seed uint64) Params {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	p := make(Params)
	for _, s := range ParamSpecs(cfg, role) {
		vals := make([]float64, s.Size())
		std := 0.3
		if len(s.Dims) >= 2 && !strings.HasSuffix(s.Name, "scale_shift_table") {
			std = 1 / math.Sqrt(float64(int(s.Size())/s.Dims[0]))
		}
		for i := range vals {
			vals[i] = rng.NormFloat64() * std
			if strings.HasSuffix(s.Name, "norm_q.weight") || strings.HasSuffix(s.Name, "norm_k.weight") || s.Name == "caption_norm.weight" {
				vals[i] += 1
			}
		}
		tt, err := newTensor(cfg.mustDType(), s.Dims, vals)
		if err != nil {
			t.Fatal(err)
		}
		p[s.Name] = tt
	}
	return p
}

// randn returns a float tensor of normal values.
func randn(dt dtypes.DType, seed uint64, dims ...int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 11))
	n := shapes.Make(dt, dims...).Size()
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = rng.NormFloat64()
	}
	t, err := newTensor(dt, dims, vals)
	if err != nil {
		panic(err)
	}
	return t
}

// fromFloats builds a tensor of dtype dt with the given values.
func fromFloats(dt dtypes.DType, vals []float64, dims ...int) *tensors.Tensor {
	t, err := newTensor(dt, dims, vals)
	if err != nil {
		panic(err)
	}
	return t
}

// floats returns a tensor's values as float64s.
func floats(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	out := make([]float64, x.Size())
	err := x.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float64:
			copy(out, f)
		case []float32:
			for i, v := range f {
				out[i] = float64(v)
			}
		default:
			t.Fatalf("floats: unsupported %T", flat)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// floatsAny is floats for any float dtype, bfloat16 included.
func floatsAny(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	if x.DType() != dtypes.BFloat16 {
		return floats(t, x)
	}
	out := make([]float64, x.Size())
	err := tensors.ConstFlatData(x, func(f []bfloat16.BFloat16) {
		for i, v := range f {
			out[i] = float64(v.Float32())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runWith executes fn once with the parameters passed as graph inputs (the WeightsFromNodes
// path training code uses), followed by the extra tensors.
func runWith(t testing.TB, p Params, fn func(w Weights, in []*graph.Node) []*graph.Node, extra ...*tensors.Tensor) []*tensors.Tensor {
	t.Helper()
	names, _ := p.Sorted()
	exec, err := graph.NewExec(testBackend(t), func(g *graph.Graph, in []*graph.Node) []*graph.Node {
		return fn(WeightsFromNodes(names, in[:len(names)]), in[len(names):])
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	args := p.Args()
	for _, e := range extra {
		args = append(args, e)
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func maxAbs(a []float64) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
