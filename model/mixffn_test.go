package model

import (
	"os"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensortest"
)

const dwB, dwH, dwW, dwC = 2, 5, 4, 6

// runDepthwise executes fn on the depthwise test inputs z (B, N, C), kernel (C, 9) and bias (C)
// and returns its outputs as float64; it also reports whether the graph ran a ConvGeneral.
func runDepthwise(t *testing.T, fn func(z, k, b *Node) []*Node, z, k, b *tensors.Tensor) (outs [][]float64, usedConv bool) {
	t.Helper()
	exec, err := NewExec(testBackend(t), func(z, k, b *Node) []*Node {
		res := fn(z, k, b)
		for _, n := range z.Graph().Nodes() {
			usedConv = usedConv || n.Type() == NodeTypeConvGeneral
		}
		return res
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Exec(z, k, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		outs = append(outs, floats(t, r))
	}
	return outs, usedConv
}

// TestDepthwise3x3MatchesLoops: the convolution (the backend's grouped convolution) and its
// shifted formulation (the gradient path) both equal the loop reference.
func TestDepthwise3x3MatchesLoops(t *testing.T) {
	dt := dtypes.Float64
	z, k, b := randn(dt, 1, dwB, dwH*dwW, dwC), randn(dt, 2, dwC, 9), randn(dt, 3, dwC)
	want := tensortest.Depthwise(floats(t, z), floats(t, k), floats(t, b), dwB, dwH, dwW, dwC, 3)
	outs, usedConv := runDepthwise(t, func(z, k, b *Node) []*Node {
		shifted := Add(shiftedDepthwise3x3(Reshape(z, dwB, dwH, dwW, dwC), k), Reshape(b, 1, 1, 1, dwC))
		return []*Node{depthwise3x3(z, k, b, dwH, dwW), Reshape(shifted, dwB, dwH*dwW, dwC)}
	}, z, k, b)
	if fusion := os.Getenv(FusionEnv); !usedConv && fusion != "0" && !strings.EqualFold(fusion, "false") {
		t.Errorf("depthwise3x3 did not run the backend's convolution")
	}
	for i, name := range []string{"depthwise3x3", "shiftedDepthwise3x3"} {
		if d := maxAbsDiff(outs[i], want) / maxAbs(want); d > 1e-12 {
			t.Errorf("%s: relative difference %g from the loop reference", name, d)
		}
	}
}

// TestDepthwise3x3Gradients checks first-order gradients w.r.t. the input, kernel and bias, and
// a JVP by double VJP (the sCM path) w.r.t. the input and kernel together, against central
// finite differences. The function is linear in each argument, so the differences are exact up
// to rounding.
func TestDepthwise3x3Gradients(t *testing.T) {
	dt := dtypes.Float64
	z, k, b := randn(dt, 4, dwB, dwH*dwW, dwC), randn(dt, 5, dwC, 9), randn(dt, 6, dwC)
	wOut := randn(dt, 7, dwB, dwH*dwW, dwC) // the loss is Σ wOut ⊙ depthwise3x3
	vz, vk := randn(dt, 8, dwB, dwH*dwW, dwC), randn(dt, 9, dwC, 9)
	wOutC, vzC, vkC := floats(t, wOut), floats(t, vz), floats(t, vk)

	outs, _ := runDepthwise(t, func(z, k, b *Node) []*Node {
		g := z.Graph()
		y := depthwise3x3(z, k, b, dwH, dwW)
		grads := Gradient(ReduceAllSum(Mul(y, Reshape(Const(g, wOutC), y.Shape().Dimensions...))), z, k, b)
		// JVP along (vz, vk) by double VJP: u zero-shaped like y, J·v = ∇_u ⟨∇_{z,k} ⟨u, y⟩, v⟩.
		u := ZerosLike(y)
		vjp := Gradient(ReduceAllSum(Mul(u, y)), z, k)
		dot := Add(ReduceAllSum(Mul(vjp[0], Reshape(Const(g, vzC), z.Shape().Dimensions...))),
			ReduceAllSum(Mul(vjp[1], Reshape(Const(g, vkC), k.Shape().Dimensions...))))
		jvp := Gradient(dot, u)[0]
		return append(grads, jvp)
	}, z, k, b)

	zs, ks, bs := floats(t, z), floats(t, k), floats(t, b)
	loss := func(zs, ks, bs []float64) float64 {
		var s float64
		for i, v := range tensortest.Depthwise(zs, ks, bs, dwB, dwH, dwW, dwC, 3) {
			s += v * wOutC[i]
		}
		return s
	}
	const h = 1e-3
	for gi, name := range []string{"z", "kernel", "bias"} {
		args := [][]float64{zs, ks, bs}
		got := outs[gi]
		for i := range args[gi] {
			plus := [][]float64{append([]float64(nil), zs...), append([]float64(nil), ks...), append([]float64(nil), bs...)}
			minus := [][]float64{append([]float64(nil), zs...), append([]float64(nil), ks...), append([]float64(nil), bs...)}
			plus[gi][i] += h
			minus[gi][i] -= h
			fd := (loss(plus[0], plus[1], plus[2]) - loss(minus[0], minus[1], minus[2])) / (2 * h)
			if d := got[i] - fd; d > 1e-8 || d < -1e-8 {
				t.Fatalf("gradient w.r.t. %s[%d]: %g, finite differences %g", name, i, got[i], fd)
			}
		}
	}
	// JVP: y(z + ε·vz, k + ε·vk) − y(z − ε·vz, k − ε·vk) over 2ε.
	shift := func(a, v []float64, s float64) []float64 {
		out := make([]float64, len(a))
		for i := range a {
			out[i] = a[i] + s*v[i]
		}
		return out
	}
	yp := tensortest.Depthwise(shift(zs, vzC, h), shift(ks, vkC, h), bs, dwB, dwH, dwW, dwC, 3)
	ym := tensortest.Depthwise(shift(zs, vzC, -h), shift(ks, vkC, -h), bs, dwB, dwH, dwW, dwC, 3)
	fd := make([]float64, len(yp))
	for i := range fd {
		fd[i] = (yp[i] - ym[i]) / (2 * h)
	}
	if d := maxAbsDiff(outs[3], fd) / maxAbs(fd); d > 1e-8 {
		t.Errorf("JVP by double VJP: relative difference %g from finite differences", d)
	}
}
