package distill

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/model"
)

// closedForm is f(x, θ) = (sin(θ)·x² + cos(θ)·W·x, Σ exp(x)·θ) for x (2,3), θ (2,), W (3,3) fixed.
func closedForm(w *Node) func(in []*Node) []*Node {
	return func(in []*Node) []*Node {
		x, th := in[0], in[1]
		t := perSample(th, x)
		y1 := Add(Mul(Sin(t), Square(x)), Mul(Cos(t), Einsum("bi,ji->bj", x, w)))
		y2 := Mul(ReduceSum(Exp(x), 1), th)
		return []*Node{y1, y2}
	}
}

func TestJVPClosedForm(t *testing.T) {
	backend := testBackend()
	x := [][]float64{{0.3, -1.2, 0.7}, {1.5, 0.1, -0.4}}
	th := []float64{0.4, 1.1}
	vx := [][]float64{{1, 0.5, -2}, {0.2, -0.3, 0.9}}
	vt := []float64{0.7, -1.3}
	wv := [][]float64{{0.5, -0.1, 0.2}, {0.3, 0.8, -0.6}, {-0.7, 0.4, 0.1}}
	outs, err := ExecOnceN(backend, func(x, th, vx, vt, w *Node) []*Node {
		o, j := JVP(closedForm(w), []*Node{x, th}, []*Node{vx, vt})
		return []*Node{o[0], o[1], j[0], j[1]}
	}, x, th, vx, vt, wv)
	if err != nil {
		t.Fatal(err)
	}
	// Central finite differences of the same function.
	const h = 1e-6
	eval := func(eps float64) []*tensors.Tensor {
		r, err := ExecOnceN(backend, func(x, th, vx, vt, w *Node) []*Node {
			return closedForm(w)([]*Node{Add(x, MulScalar(vx, eps)), Add(th, MulScalar(vt, eps))})
		}, x, th, vx, vt, wv)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	plus, minus := eval(h), eval(-h)
	for k := range 2 {
		got := flat(outs[2+k])
		p, m := flat(plus[k]), flat(minus[k])
		for i := range got {
			fd := (p[i] - m[i]) / (2 * h)
			if math.Abs(got[i]-fd) > 1e-7*(1+math.Abs(fd)) {
				t.Errorf("output %d element %d: JVP %.10g, finite difference %.10g", k, i, got[i], fd)
			}
		}
	}
	// Analytic check of one element of the second output: d/dε Σ exp(x+εv)·(θ+εv_θ).
	var sumExp, sumExpV float64
	for i := range 3 {
		sumExp += math.Exp(x[0][i])
		sumExpV += math.Exp(x[0][i]) * vx[0][i]
	}
	want := sumExpV*th[0] + sumExp*vt[0]
	if got := flat(outs[3])[0]; math.Abs(got-want) > 1e-12 {
		t.Errorf("analytic JVP: got %.12g want %.12g", got, want)
	}
}

// flat returns a tensor's values as float64.
func flat(t *tensors.Tensor) []float64 {
	var out []float64
	t.ConstFlatData(func(a any) {
		switch v := a.(type) {
		case []float64:
			out = append(out, v...)
		case []float32:
			for _, x := range v {
				out = append(out, float64(x))
			}
		}
	})
	return out
}

// TestJVPDependentPrimals checks that JVP differentiates along each primal separately even
// when one primal is computed from another in the graph (x = 2θ here).
func TestJVPDependentPrimals(t *testing.T) {
	backend := testBackend()
	out, err := ExecOnceN(backend, func(th *Node) []*Node {
		x := MulScalar(th, 2)
		_, j := JVP(func(in []*Node) []*Node {
			return []*Node{Mul(in[0], Square(in[1]))} // f(x, θ) = x·θ²
		}, []*Node{x, th}, []*Node{OnesLike(x), ZerosLike(th)})
		return []*Node{j[0]}
	}, []float64{1.5})
	if err != nil {
		t.Fatal(err)
	}
	// ∂f/∂x·1 + ∂f/∂θ·0 = θ² = 2.25 (a total derivative through x = 2θ would differ).
	if got := flat(out[0])[0]; math.Abs(got-2.25) > 1e-12 {
		t.Errorf("partial JVP: got %v want 2.25", got)
	}
}

// TestStagedStudentJVP: the sCM JVP taken stage by stage (StagedStudentJVP over
// model.TrigFlowStages) equals the JVP of the whole student (StudentJVP) in float64 to rounding,
// with F and logvar identical, whether F comes from the staged pass or from a separate forward
// (the checkpointed network's).
func TestStagedStudentJVP(t *testing.T) {
	s := newTiny(t, "float64", 2, 13)
	rng := newRand(14)
	c, h := s.mcfg.InChannels, s.mcfg.LatentSize
	xTheta := randTensor(rng, dtypes.Float64, 0.5, 2, c, h, h)
	dxdt := randTensor(rng, dtypes.Float64, 0.5, 2, c, h, h)
	theta := tensorOf([]float64{0.4, 1.3}, dtypes.Float64, 2)
	names, values := s.student.Sorted()
	exec, err := NewExec(testBackend(), func(in []*Node) []*Node {
		w := model.WeightsFromNodes(names, in[:len(names)])
		k := len(names)
		guidance := Const(in[0].Graph(), []float64{4, 5})
		text, mask := in[k+3], in[k+4]
		student := func(xhat, th *Node) (*Node, *Node) {
			f, lv, _ := model.TrigFlow(s.mcfg, w, xhat, th, text, mask, guidance, nil)
			return f, lv
		}
		whole := StudentJVP(student, in[k], in[k+1], in[k+2], 0.5)
		stages := model.TrigFlowStages(s.mcfg, w, text, mask, guidance)
		own := StagedStudentJVP(stages, nil, in[k], in[k+1], in[k+2], 0.5)
		sep := StagedStudentJVP(stages, student, in[k], in[k+1], in[k+2], 0.5)
		return []*Node{whole.F, whole.JVP, whole.Logvar, own.F, own.JVP, own.Logvar, sep.F, sep.JVP, sep.Logvar}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(execArgs(values, xTheta, theta, dxdt, s.batch[BatchText], s.batch[BatchMask])...)
	if err != nil {
		t.Fatal(err)
	}
	if maxAbs(out[1]) == 0 {
		t.Fatal("the JVP is zero")
	}
	for i, name := range []string{"staged pass", "separate forward"} {
		o := out[3+3*i:]
		if d := maxRelDiff(t, out[0], o[0]); d != 0 {
			t.Errorf("%s: F differs from the whole network's by %g", name, d)
		}
		if d := maxRelDiff(t, out[2], o[2]); d != 0 {
			t.Errorf("%s: logvar differs from the whole network's by %g", name, d)
		}
		d := maxRelDiff(t, out[1], o[1])
		t.Logf("%s: JVP relative difference %.3g", name, d)
		if d > 1e-12 {
			t.Errorf("%s: JVP differs from the whole network's by %g (relative)", name, d)
		}
	}
}
