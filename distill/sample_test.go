package distill

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/model"
)

// TestFewStepSamplerExact runs the §7 sampler with the exact TrigFlow F of a point mass at c
// (F = (cosθ·x − c)/(σd·sinθ)): every schedule must return c whatever the noise.
func TestFewStepSamplerExact(t *testing.T) {
	const c = 0.7 // latent units
	for _, sch := range [][]float64{model.Schedule(1, model.DefaultThetaMax, 0), model.Schedule(2, model.DefaultThetaMax, model.DefaultThetaMid), model.Schedule(4, model.DefaultThetaMax, 0)} {
		out := run(t, func(in []*Node) []*Node {
			latent, _ := fewStepSample(func(xhat, theta *Node) *Node {
				th := perSample(theta, xhat)
				return Div(SubScalar(Mul(Cos(th), MulScalar(xhat, 0.5)), c*0.5), MulScalar(Sin(th), 0.5))
			}, in[0], Const(in[0].Graph(), mustRNG(t, 1)), sch, 0.5)
			return []*Node{latent}
		}, [][][][]float64{{{{1.3, -0.4}}}, {{{-2, 0.1}}}})
		for _, v := range out[0] {
			near(t, "point-mass sample", v, c, 1e-9)
		}
	}
}

func mustRNG(t testing.TB, seed int64) *tensors.Tensor {
	r, err := RNGStateFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSampleStudent checks the model-bound sampler: 1 step equals the denoised estimate at
// θmax (no noise drawn), multi-step runs are reproducible for a seed and differ across seeds.
func TestSampleStudent(t *testing.T) {
	s := newTiny(t, "float32", 2, 4)
	noise := randTensor(newRand(5), dtypes.Float32, 1, 2, s.mcfg.InChannels, s.mcfg.LatentSize, s.mcfg.LatentSize)
	text, mask := s.batch[BatchText], s.batch[BatchMask]
	sample := func(steps int, seed int64) []float64 {
		out, err := SampleStudent(testBackend(), s.mcfg, s.student, text, mask, noise, StudentSampling{Steps: steps, Guidance: 4.5, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return flat(out)
	}
	one := sample(1, 1)
	// Reference: x̂0/σd at θmax computed directly.
	names, values := s.student.Sorted()
	args := execArgs(values, noise, text, mask)
	ref, err := ExecOnceN(testBackend(), func(in []*Node) []*Node {
		w := model.Weights{}
		for i, n := range names {
			w[n] = in[i]
		}
		k := len(names)
		x := MulScalar(in[k], 0.5)
		th := perSampleConst(x, 2, model.DefaultThetaMax)
		f, _, _ := model.TrigFlow(s.mcfg, w, in[k], th, in[k+1], in[k+2], perSampleConst(x, 2, 4.5), nil)
		return []*Node{DivScalar(model.DenoiseStep(x, th, f, 0.5), 0.5)}
	}, args...)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range flat(ref[0]) {
		near(t, "1-step sample", one[i], v, 1e-5)
	}
	a, b, c := sample(4, 1), sample(4, 1), sample(4, 2)
	var same, diff float64
	for i := range a {
		same = max(same, math.Abs(a[i]-b[i]))
		diff = max(diff, math.Abs(a[i]-c[i]))
	}
	if same != 0 || diff == 0 {
		t.Errorf("4-step sampling: same seed differs by %g, other seed by %g", same, diff)
	}
}

// TestSampleTeacherSolversAgree integrates the tiny teacher's guided ODE in θ and in t: both
// discretise the same ODE (§1), so they converge to the same latents.
func TestSampleTeacherSolversAgree(t *testing.T) {
	s := newTiny(t, "float32", 1, 6)
	noise := randTensor(newRand(8), dtypes.Float32, 1, 1, s.mcfg.InChannels, s.mcfg.LatentSize, s.mcfg.LatentSize)
	sample := func(solver string, steps int) []float64 {
		out, err := SampleTeacher(testBackend(), s.mcfg, s.teacher, s.batch[BatchText], s.batch[BatchMask], s.batch[NullEmbedding], noise,
			TeacherSampling{Steps: steps, CFGScale: 3, Solver: solver})
		if err != nil {
			t.Fatal(err)
		}
		return flat(out)
	}
	th, tt := sample(SolverEulerTheta, 64), sample(SolverEulerT, 64)
	coarse := sample(SolverEulerTheta, 10)
	var d, dCoarse, scale float64
	for i := range th {
		d = max(d, math.Abs(th[i]-tt[i]))
		dCoarse = max(dCoarse, math.Abs(coarse[i]-tt[i]))
		scale = max(scale, math.Abs(tt[i]))
	}
	t.Logf("θ-Euler vs t-Euler (64 steps): max diff %.3g (10 θ-steps: %.3g), max |x| %.3g", d, dCoarse, scale)
	if d > 0.05*scale || d > dCoarse/4 {
		t.Errorf("solvers disagree: %g at 64 steps (%g at 10 steps), scale %g", d, dCoarse, scale)
	}
}

// TestFlowMatchingPair checks x_t = (1−t)·x0 + t·n and v = n − x0.
func TestFlowMatchingPair(t *testing.T) {
	out := run(t, func(in []*Node) []*Node {
		xt, v := flowMatchingPair(in[0], in[1], in[2])
		return []*Node{xt, v}
	}, [][]float64{{1, 2}, {-1, 0}}, [][]float64{{0.5, -0.5}, {2, 1}}, []float64{0.25, 0.9})
	for i, want := range []float64{0.875, 1.375, 1.7, 0.9} {
		near(t, "x_t", out[0][i], want, 1e-12)
	}
	for i, want := range []float64{-0.5, -2.5, 3, 1} {
		near(t, "v", out[1][i], want, 1e-12)
	}
}

// TestFlowMatchingLossTrains checks the teacher loss on the tiny model: gradients reach every
// trainable tensor, and a zero network (V = 0) has loss E(n − x0)² = 1 + x0².
func TestFlowMatchingLossTrains(t *testing.T) {
	s := newTiny(t, "float32", 32, 9)
	cfg := DefaultConfig()
	fmLoss, err := FlowMatchingLoss(cfg, s.mcfg)
	if err != nil {
		t.Fatal(err)
	}
	r := evalLoss(t, fmLoss, stepRun{trainable: s.teacher, batch: s.batch, seed: 3})
	checkGrads(t, "FM", r.grads, func(string) bool { return true })
	// Zero the output projection: V = 0. With latents all 0.5, E[(n − 0.5)²] = 1.25.
	zero := map[string]*tensors.Tensor{}
	for n, v := range s.teacher {
		zero[n] = v
	}
	for _, n := range []string{"proj_out.weight", "proj_out.bias"} {
		zero[n] = tensorOf(make([]float64, s.teacher[n].Shape().Size()), dtypes.Float32, s.teacher[n].Shape().Dimensions...)
	}
	half := make([]float64, s.batch[BatchLatent].Shape().Size())
	for i := range half {
		half[i] = 0.5
	}
	batch := union(s.batch)
	batch[BatchLatent] = tensorOf(half, dtypes.Float32, s.batch[BatchLatent].Shape().Dimensions...)
	r = evalLoss(t, fmLoss, stepRun{trainable: zero, batch: batch, seed: 4})
	n := float64(len(half))
	near(t, "FM loss of V = 0", r.loss, 1.25, 5*math.Sqrt(2.5/n)) // Var[(n−½)²] = 2 + 4·¼ = 3 → ≈ √(3/n)
}
