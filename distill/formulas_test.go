package distill

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// run executes a graph function of float64 inputs and returns its outputs as float64 slices.
func run(t *testing.T, fn any, args ...any) [][]float64 {
	t.Helper()
	var outs []*tensors.Tensor
	var err error
	switch f := fn.(type) {
	case func(*Graph) []*Node:
		outs, err = ExecOnceN(testBackend(), f)
	case func([]*Node) []*Node:
		outs, err = ExecOnceN(testBackend(), f, args...)
	default:
		t.Fatalf("run: unsupported function %T", fn)
	}
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(outs))
	for i, o := range outs {
		res[i] = flat(o)
	}
	return res
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s: got %.10g want %.10g (tolerance %g)", what, got, want, tol)
	}
}

// TestTimeSamplingMoments checks the logit-normal TrigFlow law (§2.1): log σ = log(0.5·tanθ)
// has mean P_mean and variance P_std² over many draws, for the sCM and discriminator defaults.
func TestTimeSamplingMoments(t *testing.T) {
	const n = 200000
	for _, c := range []struct{ mean, std float64 }{{0.2, 1.6}, {-0.6, 1.0}} {
		out := run(t, func(g *Graph) []*Node {
			_, theta := SampleTrigFlowTime(RNGStateFromSeedForGraph(g, 3), n, dtypes.Float64, c.mean, c.std)
			logSigma := Log(MulScalar(Div(Sin(theta), Cos(theta)), sigmaTimeScale))
			m := ReduceAllMean(logSigma)
			v := ReduceAllMean(Square(logSigma))
			return []*Node{m, Sub(v, Square(m)), ReduceAllMin(theta), ReduceAllMax(theta)}
		})
		mean, variance := out[0][0], out[1][0]
		// 5 standard errors of the mean and of the variance estimate.
		near(t, "mean log σ", mean, c.mean, 5*c.std/math.Sqrt(n))
		near(t, "var log σ", variance, c.std*c.std, 5*c.std*c.std*math.Sqrt(2.0/n))
		if out[2][0] <= 0 || out[3][0] >= math.Pi/2 {
			t.Errorf("θ outside (0, π/2): [%v, %v]", out[2][0], out[3][0])
		}
	}
}

// TestGuidanceDraws checks that w is drawn uniformly from the configured list (§2.2).
func TestGuidanceDraws(t *testing.T) {
	const n = 30000
	scales := []float64{4, 4.5, 5}
	out := run(t, func(g *Graph) []*Node {
		_, w := SampleGuidance(RNGStateFromSeedForGraph(g, 9), n, dtypes.Float64, scales)
		return []*Node{w}
	})
	count := map[float64]int{}
	for _, w := range out[0] {
		count[w]++
	}
	if len(count) != 3 {
		t.Fatalf("drew values %v, want only %v", count, scales)
	}
	for _, s := range scales {
		near(t, fmt.Sprintf("frequency of w=%v", s), float64(count[s])/n, 1.0/3, 5*math.Sqrt(2.0/9/n))
	}
}

// TestCFGTarget checks dxdt = σd·[F_u + w(F_c − F_u)] (§2.2) per sample.
func TestCFGTarget(t *testing.T) {
	out := run(t, func(in []*Node) []*Node {
		return []*Node{CFGTarget(in[0], in[1], in[2], 0.5)}
	}, [][]float64{{1, -2}, {0.5, 0}}, [][]float64{{3, -1}, {0.25, 1}}, []float64{4.5, 4})
	// sample 0, w=4.5: 0.5·(1 + 4.5·2) = 5, 0.5·(−2 + 4.5·1) = 1.25
	// sample 1, w=4: 0.5·(0.5 + 4·(−0.25)) = −0.25, 0.5·(0 + 4·1) = 2
	for i, want := range []float64{5, 1.25, -0.25, 2} {
		near(t, "dxdt", out[0][i], want, 1e-12)
	}
}

// TestTangent checks g = −cos²θ·(σd·F⁻ − dxdt) − r·(cosθ·sinθ·x_θ + σd·J) (§2.4) at r = 0, ½, 1.
func TestTangent(t *testing.T) {
	theta := []float64{math.Pi / 4, math.Pi / 3}
	x := []float64{2, -1}
	fm := []float64{1, 0.2}
	dxdt := []float64{0.3, -0.4}
	j := []float64{0.8, 0.1}
	for _, r := range []float64{0, 0.5, 1} {
		out := run(t, func(in []*Node) []*Node {
			return []*Node{Tangent(in[0], in[1], in[2], in[3], in[4], in[5], 0.5)}
		}, theta, x, fm, dxdt, j, r)
		// θ = π/4: −½·(0.5 − 0.3) − r·(½·2 + 0.5·0.8) = −0.1 − 1.4r
		// θ = π/3: −¼·(0.1 + 0.4) − r·((√3/4)·(−1) + 0.05) = −0.125 − r·(0.05 − √3/4)
		near(t, "g(π/4)", out[0][0], -0.1-1.4*r, 1e-12)
		near(t, "g(π/3)", out[0][1], -0.125-r*(0.05-math.Sqrt(3)/4), 1e-12)
	}
}

// TestNormalizeTangent checks g/(‖g‖ + c) with the norm over (C, H, W) per sample (§2.4).
func TestNormalizeTangent(t *testing.T) {
	g := [][][][]float64{{{{3}}, {{4}}}, {{{0}}, {{0}}}} // (2, 2, 1, 1): norms 5 and 0
	out := run(t, func(in []*Node) []*Node {
		n, norm := NormalizeTangent(in[0], 0.1)
		return []*Node{n, norm}
	}, g)
	for i, want := range []float64{3 / 5.1, 4 / 5.1, 0, 0} {
		near(t, "normalised g", out[0][i], want, 1e-12)
	}
	near(t, "‖g₀‖", out[1][0], 5, 1e-12)
	near(t, "‖g₁‖", out[1][1], 0, 0)
}

// TestSCMLossWeighting checks the loss (w(θ)/e^logvar)·(F − F⁻ − g)² + logvar with
// w(θ) = 1/(σd·tanθ), averaged over (B, C, H, W), and its two diagnostics (§2.6).
func TestSCMLossWeighting(t *testing.T) {
	f := [][][][]float64{{{{1.0}}, {{0.5}}}, {{{0.2}}, {{-0.1}}}}
	fm := [][][][]float64{{{{0.6}}, {{0.5}}}, {{{0.2}}, {{0.1}}}}
	g := [][][][]float64{{{{0.1}}, {{-0.2}}}, {{{0.3}}, {{0}}}}
	theta := []float64{math.Pi / 4, math.Pi / 6}
	logvar := []float64{0.5, -1}
	out := run(t, func(in []*Node) []*Node {
		terms := SCMLoss(in[0], in[1], in[2], in[3], in[4], 0.5)
		return []*Node{terms.Loss, terms.NoLogvar, terms.NoWeight}
	}, f, fm, g, theta, logvar)
	// residuals: sample 0: 0.3, 0.2; sample 1: −0.3, −0.2. Weights: 1/(0.5·tan(π/4)) = 2,
	// 1/(0.5·tan(π/6)) = 2√3.
	w0, w1 := 2.0, 2*math.Sqrt(3)
	sq := []float64{0.09, 0.04, 0.09, 0.04}
	loss := (w0/math.Exp(0.5)*(sq[0]+sq[1]) + 2*0.5 + w1/math.Exp(-1)*(sq[2]+sq[3]) + 2*(-1)) / 4
	noLogvar := (w0*(sq[0]+sq[1]) + w1*(sq[2]+sq[3])) / 4
	noWeight := (sq[0] + sq[1] + sq[2] + sq[3]) / 4
	near(t, "loss", out[0][0], loss, 1e-12)
	near(t, "loss_no_logvar", out[1][0], noLogvar, 1e-12)
	near(t, "loss_no_weight", out[2][0], noWeight, 1e-12)
}

// TestTangentWarmup checks r = min(1, n/warmup) for the global and the generator counters.
func TestTangentWarmup(t *testing.T) {
	cases := []struct {
		counter string
		g, d    int
		step    int64
		want    float64
	}{
		{CounterGlobal, 1, 1, 0, 0},
		{CounterGlobal, 1, 1, 1000, 0.25},
		{CounterGlobal, 1, 1, 5000, 1},
		{CounterGenerator, 1, 1, 1001, 501.0 / 4000}, // G updates at global 0, 2, …, 1000
		{CounterGenerator, 2, 1, 7, 5.0 / 4000},      // G at 0, 1, 3, 4, 6
		{CounterGenerator, 1, 1, 9000, 1},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		ratio := PhaseRatio{G: c.g, D: c.d}
		cfg.TangentWarmupCounter = c.counter
		out := run(t, func(g *Graph) []*Node {
			return []*Node{TangentWarmup(cfg, ratio, Const(g, c.step), dtypes.Float64)}
		})
		near(t, c.counter+" warmup", out[0][0], c.want, 1e-12)
	}
	cfg := DefaultConfig()
	cfg.TangentWarmupSteps = 0
	out := run(t, func(g *Graph) []*Node {
		return []*Node{TangentWarmup(cfg, PhaseRatio{}, Const(g, int64(0)), dtypes.Float64)}
	})
	near(t, "no warmup", out[0][0], 1, 0)
}

// TestHingeLosses checks L_adv = −mean D(fake) and L_D = ½[mean ReLU(1−D(real)) + mean
// ReLU(1+D(fake))] (§3.4).
func TestHingeLosses(t *testing.T) {
	out := run(t, func(in []*Node) []*Node {
		d := HingeDiscriminator(in[0], in[1])
		return []*Node{HingeGenerator(in[1]), d.Loss, d.Real, d.Fake}
	}, [][]float64{{0.5, 2, -1}}, [][]float64{{-2, 0, 0.5}})
	near(t, "L_adv", out[0][0], 0.5, 1e-12)       // −(−2 + 0 + 0.5)/3
	near(t, "loss_real", out[2][0], 2.5/3, 1e-12) // (0.5 + 0 + 2)/3
	near(t, "loss_gen", out[3][0], 2.5/3, 1e-12)  // (0 + 1 + 1.5)/3
	near(t, "L_D", out[1][0], 2.5/3, 1e-12)
}

// TestMisaligned checks the roll by one along the batch (torch.roll(x, 1, 0)).
func TestMisaligned(t *testing.T) {
	out := run(t, func(in []*Node) []*Node { return []*Node{Misaligned(in[0])} },
		[][]float64{{1, 10}, {2, 20}, {3, 30}})
	for i, want := range []float64{3, 30, 1, 10, 2, 20} {
		near(t, "rolled", out[0][i], want, 0)
	}
}

// TestSpectralNormConverges runs power iterations on a known matrix: σ = uᵀWv converges to its
// largest singular value, W/σ has spectral norm 1, and eval mode leaves u and v unchanged.
func TestSpectralNormConverges(t *testing.T) {
	// W (O=3, I=2, k=2) viewed as the 3×4 matrix M = U·diag(3, 1.5, 0.5)·Vᵀ with orthonormal
	// U (Householder reflection) and V = I padded: σ_max = 3.
	u := householder([]float64{1, 2, 2})
	s := []float64{3, 1.5, 0.5}
	m := make([]float64, 12)
	for r := range 3 {
		for c := range 3 {
			m[r*4+c] = u[r][c] * s[c]
		}
	}
	w := tensors.FromFlatDataAndDimensions(m, 3, 2, 2)
	uv := tensors.FromFlatDataAndDimensions([]float64{1, 0, 0}, 3)
	vv := tensors.FromFlatDataAndDimensions([]float64{0.5, 0.5, 0.5, 0.5}, 4)
	exec, err := NewExec(testBackend(), func(w, u, v *Node) []*Node {
		ws, u2, v2 := SpectralNorm(w, u, v, true)
		sigma := ReduceAllSum(Mul(u2, Einsum("oi,i->o", Reshape(w, 3, 4), v2)))
		return []*Node{ws, u2, v2, sigma}
	})
	if err != nil {
		t.Fatal(err)
	}
	var sigma float64
	var out []*tensors.Tensor
	for range 40 {
		out, err = exec.Exec(w, uv, vv)
		if err != nil {
			t.Fatal(err)
		}
		uv, vv = out[1], out[2]
		sigma = flat(out[3])[0]
	}
	near(t, "σ after 40 iterations", sigma, 3, 1e-12)
	near(t, "W/σ scaling", flat(out[0])[0]*3, m[0], 1e-12)
	// Eval mode: the same vectors come back.
	evalOut := run(t, func(in []*Node) []*Node {
		_, u2, v2 := SpectralNorm(in[0], in[1], in[2], false)
		return []*Node{u2, v2}
	}, w, uv, vv)
	for i, want := range flat(uv) {
		near(t, "eval-mode u", evalOut[0][i], want, 0)
	}
}

// householder returns the orthonormal 3×3 reflection I − 2vvᵀ/‖v‖².
func householder(v []float64) [3][3]float64 {
	var n2 float64
	for _, x := range v {
		n2 += x * x
	}
	var h [3][3]float64
	for i := range 3 {
		for j := range 3 {
			h[i][j] = -2 * v[i] * v[j] / n2
			if i == j {
				h[i][j]++
			}
		}
	}
	return h
}

// TestBatchNormLocal checks the per-virtual-batch normalisation against a hand computation:
// B = 4 in virtual batches of 2 gives groups {0,1} and {2,3}, statistics per channel over the
// group's samples and tokens, biased variance, eps 1e-5, then the affine map.
func TestBatchNormLocal(t *testing.T) {
	x := [][][]float64{ // (B=4, N=2, C=2)
		{{1, 10}, {2, 20}},
		{{3, 30}, {4, 40}},
		{{-1, 0}, {1, 0}},
		{{0, 5}, {2, -5}},
	}
	weight, bias := []float64{2, -1}, []float64{0.5, 0}
	out := run(t, func(in []*Node) []*Node {
		return []*Node{BatchNormLocal(in[0], in[1], in[2], 2)}
	}, x, weight, bias)
	for gi := range 2 {
		for c := range 2 {
			var vals []float64
			for b := 2 * gi; b < 2*gi+2; b++ {
				for n := range 2 {
					vals = append(vals, x[b][n][c])
				}
			}
			var mean, v float64
			for _, a := range vals {
				mean += a / 4
			}
			for _, a := range vals {
				v += (a - mean) * (a - mean) / 4
			}
			for b := 2 * gi; b < 2*gi+2; b++ {
				for n := range 2 {
					want := (x[b][n][c]-mean)/math.Sqrt(v+1e-5)*weight[c] + bias[c]
					near(t, "BatchNormLocal", out[0][(b*2+n)*2+c], want, 1e-12)
				}
			}
		}
	}
	// Group 0, channel 0: values 1,2,3,4: mean 2.5, var 1.25.
	near(t, "hand value", out[0][0], (1-2.5)/math.Sqrt(1.25+1e-5)*2+0.5, 1e-12)
}

// TestConv1dCircular checks the k = 9 circular convolution against a direct sum, for N larger
// and smaller than the padding.
func TestConv1dCircular(t *testing.T) {
	for _, n := range []int{12, 3} {
		const b, c, o, k = 2, 3, 2, 9
		rng := newRand(int64(n))
		x := randTensor(rng, dtypes.Float64, 1, b, n, c)
		w := randTensor(rng, dtypes.Float64, 1, o, c, k)
		bias := randTensor(rng, dtypes.Float64, 1, o)
		out := run(t, func(in []*Node) []*Node { return []*Node{conv1dCircular(in[0], in[1], in[2])} }, x, w, bias)
		xv, wv, bv := flat(x), flat(w), flat(bias)
		for bi := range b {
			for ni := range n {
				for oi := range o {
					want := bv[oi]
					for j := range k {
						src := ((ni+j-k/2)%n + n) % n
						for ci := range c {
							want += wv[(oi*c+ci)*k+j] * xv[(bi*n+src)*c+ci]
						}
					}
					near(t, "conv", out[0][(bi*n+ni)*o+oi], want, 1e-10)
				}
			}
		}
	}
}

// TestHeadsShapes checks that the heads turn features (B, N, D) into (B, heads·N) logits.
func TestHeadsShapes(t *testing.T) {
	params, buffers, err := initHeads(2, 8, dtypes.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(params) != 2*10 || len(buffers) != 2*6 {
		t.Errorf("got %d params and %d buffers, want 20 and 12", len(params), len(buffers))
	}
	if d := params["heads.1.conv1.weight"].Shape().Dimensions; d[0] != 8 || d[1] != 8 || d[2] != 9 {
		t.Errorf("heads.1.conv1.weight has dims %v, want [8 8 9]", d)
	}
	names := make([]string, 0)
	var args []any
	for _, m := range []map[string]*tensors.Tensor{params, buffers} {
		for _, n := range sortedKeys(m) {
			names = append(names, n)
			args = append(args, m[n])
		}
	}
	rng := newRand(3)
	args = append(args, randTensor(rng, dtypes.Float32, 1, 16, 5, 8), randTensor(rng, dtypes.Float32, 1, 16, 5, 8))
	outs, err := ExecOnceN(testBackend(), func(in []*Node) []*Node {
		w, st := map[string]*Node{}, map[string]*Node{}
		for i, n := range names {
			if i < len(params) {
				w[n] = in[i]
			} else {
				st[n] = in[i]
			}
		}
		logits, _ := DiscriminatorHeads(w, st, in[len(names):], 8, true)
		return []*Node{logits}
	}, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !outs[0].Shape().Equal(shapes.Make(dtypes.Float32, 16, 10)) {
		t.Errorf("logits shape %s, want (16, 10)", outs[0].Shape())
	}
}
