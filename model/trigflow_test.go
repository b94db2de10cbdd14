package model

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Gaussian data x0_n ~ N(m, s²) per element (normalised units), noise n ~ N(0, 1). Flow
// matching interpolates x_t = (1−t)·x0_n + t·n, whose exact velocity field is
// v(x, t) = E[n − x0_n | x_t = x]; TrigFlow interpolates x̂_θ = cosθ·x0_n + sinθ·n, whose
// PF-ODE field is dx̂/dθ = E[cosθ·n − sinθ·x0_n | x̂_θ = x̂]. The wrapper applied to the first
// must give the second.
const gaussM, gaussS = 0.7, 0.4

func exactFlowVelocity(x, t *Node) *Node {
	tt := perSample(t, x.Rank())
	a := OneMinus(tt)                                            // coefficient of x0
	varX := Add(MulScalar(Square(a), gaussS*gaussS), Square(tt)) // Var[x_t]
	r := Sub(x, MulScalar(a, gaussM))                            // x − E[x_t]
	eX0 := AddScalar(Div(Mul(MulScalar(a, gaussS*gaussS), r), varX), gaussM)
	eN := Div(Mul(tt, r), varX)
	return Sub(eN, eX0)
}

func exactTrigFlowField(xhat, theta *Node) *Node {
	c := perSample(Cos(theta), xhat.Rank())
	s := perSample(Sin(theta), xhat.Rank())
	varX := Add(MulScalar(Square(c), gaussS*gaussS), Square(s))
	r := Sub(xhat, MulScalar(c, gaussM))
	eX0 := AddScalar(Div(Mul(MulScalar(c, gaussS*gaussS), r), varX), gaussM)
	eN := Div(Mul(s, r), varX)
	return Sub(Mul(c, eN), Mul(s, eX0))
}

func TestTrigFlowOfExactFlowIsPFODE(t *testing.T) {
	B := 5
	xhat := randn(dtypes.Float64, 1, B, 2, 3, 3)
	theta := fromFloats(dtypes.Float64, []float64{0.05, 0.4, 0.785, 1.2, 1.55}, B)
	outs := runWith(t, Params{}, func(_ Weights, in []*Node) []*Node {
		xFlow, tt := trigflowInput(in[0], in[1])
		F := trigflowOutput(xFlow, tt, exactFlowVelocity(xFlow, tt))
		return []*Node{F, exactTrigFlowField(in[0], in[1])}
	}, xhat, theta)
	got, want := floats(t, outs[0]), floats(t, outs[1])
	if d := maxAbsDiff(got, want); d > 1e-12 {
		t.Errorf("wrapper F differs from dx̂/dθ by %g", d)
	}
}

// TestTrigFlowPointMass: for x0_n fixed and a given noise n, the exact flow velocity along
// the path is n − x0_n, and F must be cosθ·n − sinθ·x0_n (the §1 scalar check).
func TestTrigFlowPointMass(t *testing.T) {
	B := 4
	x0 := randn(dtypes.Float64, 2, B, 3)
	n := randn(dtypes.Float64, 3, B, 3)
	theta := fromFloats(dtypes.Float64, []float64{0.1, 0.7, 1.1, 1.5}, B)
	outs := runWith(t, Params{}, func(_ Weights, in []*Node) []*Node {
		x0, n, th := in[0], in[1], in[2]
		c, s := perSample(Cos(th), 2), perSample(Sin(th), 2)
		xhat := Add(Mul(c, x0), Mul(s, n))
		xFlow, tt := trigflowInput(xhat, th)
		F := trigflowOutput(xFlow, tt, Sub(n, x0))
		return []*Node{F, Sub(Mul(c, n), Mul(s, x0))}
	}, x0, n, theta)
	if d := maxAbsDiff(floats(t, outs[0]), floats(t, outs[1])); d > 1e-12 {
		t.Errorf("point mass: F differs from cosθ·n − sinθ·x0 by %g", d)
	}
}

func TestThetaTRoundTrip(t *testing.T) {
	vals := []float64{0, 0.01, 0.3, math.Pi / 4, 1.2, 1.5, math.Pi / 2}
	theta := fromFloats(dtypes.Float64, vals, len(vals))
	outs := runWith(t, Params{}, func(_ Weights, in []*Node) []*Node {
		tt := ThetaToT(in[0])
		return []*Node{tt, TToTheta(tt)}
	}, theta)
	ts, back := floats(t, outs[0]), floats(t, outs[1])
	for i, th := range vals {
		if want := math.Sin(th) / (math.Sin(th) + math.Cos(th)); math.Abs(ts[i]-want) > 1e-15 {
			t.Errorf("t(%g) = %g, want %g", th, ts[i], want)
		}
		if math.Abs(back[i]-th) > 1e-12 {
			t.Errorf("θ(t(%g)) = %g", th, back[i])
		}
	}
	if ts[3] != 0.5 && math.Abs(ts[3]-0.5) > 1e-15 {
		t.Errorf("t(π/4) = %g, want 0.5", ts[3])
	}
}

// TestDenoiseRecoversX0: with the exact F of a point mass, x̂0 = cosθ·x_θ − sinθ·σd·F is x0 at
// every θ, and the multi-step sampler (denoise, re-noise) ends at x0.
func TestDenoiseRecoversX0(t *testing.T) {
	const sd = 0.5
	B := 3
	x0 := randn(dtypes.Float64, 4, B, 2, 2, 2) // unnormalised x0
	eps := randn(dtypes.Float64, 5, B, 2, 2, 2)
	theta := fromFloats(dtypes.Float64, []float64{1.5708, 0.9, 0.2}, B)
	outs := runWith(t, Params{}, func(_ Weights, in []*Node) []*Node {
		x0, eps, th := in[0], in[1], in[2]
		x := Renoise(x0, th, eps, sd) // x_θ = cosθ·x0 + sinθ·σd·ε
		c, s := perSample(Cos(th), 4), perSample(Sin(th), 4)
		F := Sub(Mul(c, eps), Mul(s, DivScalar(x0, sd))) // cosθ·n − sinθ·x0_n
		return []*Node{DenoiseStep(x, th, F, sd)}
	}, x0, eps, theta)
	if d := maxAbsDiff(floats(t, outs[0]), floats(t, x0)); d > 1e-12 {
		t.Errorf("x̂0 differs from x0 by %g", d)
	}
}

func TestSchedule(t *testing.T) {
	cases := []struct {
		steps int
		mid   float64
		want  []float64
	}{
		{1, DefaultThetaMid, []float64{DefaultThetaMax, 0}},
		{2, DefaultThetaMid, []float64{DefaultThetaMax, 1.3, 0}},
		{2, 0, []float64{DefaultThetaMax, DefaultThetaMax / 2, 0}},
		{4, DefaultThetaMid, []float64{1.5708, 1.1781, 0.7854, 0.3927, 0}},
		{0, 1, nil},
	}
	for _, c := range cases {
		got := Schedule(c.steps, DefaultThetaMax, c.mid)
		if len(got) != len(c.want) {
			t.Errorf("Schedule(%d) = %v, want %v", c.steps, got, c.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-4 {
				t.Errorf("Schedule(%d) = %v, want %v", c.steps, got, c.want)
				break
			}
		}
	}
}

// TestStudentJVPMatchesFiniteDifferences: the JVP of the whole student TrigFlow wrapper w.r.t.
// (x̂, θ), by double VJP (u a zero tensor: J·v = ∇_u ⟨∇_x ⟨u, F⟩, v⟩), agrees with central
// differences in float64. It also checks that no fused op and no Rsqrt is on the path.
func TestStudentJVPMatchesFiniteDifferences(t *testing.T) {
	// Token grids of 4×4 and 12×12.
	for _, side := range []int{4, 12} {
		t.Run(fmt.Sprintf("%dx%d", side, side), func(t *testing.T) { testStudentJVP(t, side) })
	}
}

func testStudentJVP(t *testing.T, side int) {
	cfg := tinyConfig(t, "float64")
	cfg.LatentSize = side
	p := randomParams(t, cfg, Student, 21)
	B := 2
	dt := dtypes.Float64
	xhat := randn(dt, 22, B, cfg.InChannels, side, side)
	theta := fromFloats(dt, []float64{0.4, 1.2}, B)
	vx := randn(dt, 23, B, cfg.InChannels, side, side)
	vth := fromFloats(dt, []float64{0.7, -0.3}, B)
	_, _, text, mask := tinyInputs(cfg, B, side, 24)
	guid := fromFloats(dt, []float64{4.5, 2}, B)

	fwd := func(w Weights, x, th, text, mask, g *Node) *Node {
		F, _, _ := TrigFlow(cfg, w, x, th, text, mask, g, nil)
		return F
	}
	var fusedOrRsqrt []string
	outs := runWith(t, p, func(w Weights, in []*Node) []*Node {
		x, th, vx, vth, text, mask, g := in[0], in[1], in[2], in[3], in[4], in[5], in[6]
		F := fwd(w, x, th, text, mask, g)
		u := ZerosLike(F)
		grads := Gradient(ReduceAllSum(Mul(u, F)), x, th) // uᵀJ, linear in u
		dot := Add(ReduceAllSum(Mul(grads[0], vx)), ReduceAllSum(Mul(grads[1], vth)))
		jvp := Gradient(dot, u)[0] // J·v
		for _, n := range x.Graph().Nodes() {
			name := n.Type().String()
			if strings.Contains(name, "Fused") || strings.Contains(name, "Rsqrt") {
				fusedOrRsqrt = append(fusedOrRsqrt, name)
			}
		}
		return []*Node{F, jvp}
	}, xhat, theta, vx, vth, text, mask, guid)
	if len(fusedOrRsqrt) > 0 {
		t.Errorf("ops without second-order gradients on the path: %v", fusedOrRsqrt)
	}
	checkJVP(t, "JVP", floats(t, outs[1]), p, 1e-5, func(w Weights, x, th *Node, rest []*Node) *Node {
		return fwd(w, x, th, rest[0], rest[1], rest[2])
	}, xhat, theta, vx, vth, text, mask, guid)
}

// ExampleSchedule prints the default 1-, 2- and 4-step θ schedules.
func ExampleSchedule() {
	for _, n := range []int{1, 2, 4} {
		fmt.Printf("%d: %.4f\n", n, Schedule(n, DefaultThetaMax, DefaultThetaMid))
	}
	// Output:
	// 1: [1.5708 0.0000]
	// 2: [1.5708 1.3000 0.0000]
	// 4: [1.5708 1.1781 0.7854 0.3927 0.0000]
}
