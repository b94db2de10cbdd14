package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensortest"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

// The shared test helpers: the backend of internal/testbackend (the pure-Go one unless
// GOMLX_BACKEND says otherwise, never an auto-installing XLA plugin) and the host-tensor helpers
// of internal/tensortest.
var (
	testBackend = testbackend.Get
	floats      = tensortest.Floats
	maxAbsDiff  = tensortest.MaxAbsDiff
	maxAbs      = tensortest.MaxAbs
)

// tinyConfig returns the tiny preset resolved, in the given dtype.
func tinyConfig(t testing.TB, dtype string) Config {
	t.Helper()
	c := DefaultConfig()
	c.Preset = PresetTiny
	c.DType = dtype
	c, err := c.ResolvedValid()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// randomParams draws every parameter at random (weights ~ N(0, 1/fan_in), vectors ~ N(0, 0.3²),
// norm weights around 1), so that no branch of the network is switched off by a zero init.
func randomParams(t testing.TB, cfg Config, role Role, seed uint64) Params {
	t.Helper()
	return randomSpecs(t, cfg.mustDType(), ParamSpecs(cfg, role), seed, 7, func(s ParamSpec) (std, mean float64) {
		std = 0.3
		if len(s.Dims) >= 2 && !strings.HasSuffix(s.Name, "scale_shift_table") {
			std = 1 / math.Sqrt(float64(int(s.Size())/s.Dims[0]))
		}
		if strings.HasSuffix(s.Name, "norm_q.weight") || strings.HasSuffix(s.Name, "norm_k.weight") || s.Name == "caption_norm.weight" {
			mean = 1
		}
		return std, mean
	})
}

// randomSpecs draws the parameters of specs in dtype dt from one random stream (seed, stream):
// each value N(mean, std²) with the std and mean dist gives its parameter.
func randomSpecs(t testing.TB, dt dtypes.DType, specs []ParamSpec, seed, stream uint64, dist func(ParamSpec) (std, mean float64)) Params {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, stream))
	p := make(Params, len(specs))
	for _, s := range specs {
		std, mean := dist(s)
		vals := make([]float64, s.Size())
		for i := range vals {
			vals[i] = rng.NormFloat64()*std + mean
		}
		tt, err := newTensor(dt, s.Dims, vals)
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
	vals := make([]float64, shapes.Make(dt, dims...).Size())
	for i := range vals {
		vals[i] = rng.NormFloat64()
	}
	return fromFloats(dt, vals, dims...)
}

// fromFloats builds a tensor of dtype dt with the given values.
func fromFloats(dt dtypes.DType, vals []float64, dims ...int) *tensors.Tensor {
	t, err := newTensor(dt, dims, vals)
	if err != nil {
		panic(err)
	}
	return t
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

// checkJVP compares jvp, the JVP of F along (vx, vθ) at (x̂, θ), with the central differences
// (F(x̂+h·vx, θ+h·vθ) − F(x̂−h·vx, θ−h·vθ)) / 2h, which must agree to a relative 1e-7 (float64).
// F reads the parameters p, x̂, θ and the fixed inputs rest.
func checkJVP(t *testing.T, what string, jvp []float64, p Params, h float64, F func(w Weights, x, theta *graph.Node, rest []*graph.Node) *graph.Node, xhat, theta, vx, vth *tensors.Tensor, rest ...*tensors.Tensor) {
	t.Helper()
	shifted := func(sign float64) []float64 {
		xs, ths := floats(t, xhat), floats(t, theta)
		for i, v := range floats(t, vx) {
			xs[i] += sign * h * v
		}
		for i, v := range floats(t, vth) {
			ths[i] += sign * h * v
		}
		in := append([]*tensors.Tensor{fromFloats(xhat.DType(), xs, xhat.Shape().Dimensions...), fromFloats(theta.DType(), ths, theta.Shape().Dimensions...)}, rest...)
		o := runWith(t, p, func(w Weights, in []*graph.Node) []*graph.Node {
			return []*graph.Node{F(w, in[0], in[1], in[2:])}
		}, in...)
		return floats(t, o[0])
	}
	plus, minus := shifted(1), shifted(-1)
	fd := make([]float64, len(plus))
	for i := range fd {
		fd[i] = (plus[i] - minus[i]) / (2 * h)
	}
	rel := maxAbsDiff(jvp, fd) / maxAbs(fd)
	t.Logf("%s vs central differences: max |Δ| = %.3g, relative %.3g (max |J·v| = %.3g)", what, maxAbsDiff(jvp, fd), rel, maxAbs(fd))
	if rel > 1e-7 || math.IsNaN(rel) {
		t.Errorf("JVP differs from finite differences: relative error %g", rel)
	}
}
