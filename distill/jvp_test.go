package distill

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
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
