package distill

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/model"
)

// maxRelDiff is max|a−b| / max|a| over two tensors of the same shape (0 when both are zero).
func maxRelDiff(t *testing.T, a, b *tensors.Tensor) float64 {
	t.Helper()
	x, y := floatsOf(t, a), floatsOf(t, b)
	var d, m float64
	for i := range x {
		d = math.Max(d, math.Abs(x[i]-y[i]))
		m = math.Max(m, math.Abs(x[i]))
	}
	if m == 0 {
		return d
	}
	return d / m
}

// TestGradCheckpointingIsExact: with model.grad_checkpointing the tiny student's F, its double-VJP
// JVP and the gradient of a loss through the JVP graph, and the values of the generator loss (sCM
// with its JVP, LADD through the teacher's features) and of the discriminator loss with all
// their metrics, are bitwise those of the plain graphs (float32, tolerance 0). The G and D
// gradients agree to gradTol of the largest gradient (the same terms summed in another order).
func TestGradCheckpointingIsExact(t *testing.T) {
	s := newTiny(t, "float32", 2, 31)
	remat := s.mcfg
	remat.GradCheckpointing = true
	cfg := tinyDistillConfig()
	heads, buffers, err := InitHeads(cfg, s.mcfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	check := func(what string, a, b *tensors.Tensor) {
		d := maxRelDiff(t, a, b)
		worst = math.Max(worst, d)
		if d != 0 {
			t.Errorf("%s: grad_checkpointing changes it by %.3g (relative)", what, d)
		}
	}

	// The student's F and its JVP along a tangent, as StudentJVP computes them.
	rng := newRand(5)
	c, h := s.mcfg.InChannels, s.mcfg.LatentSize
	xTheta := randTensor(rng, dtypes.Float32, 0.5, 2, c, h, h)
	dxdt := randTensor(rng, dtypes.Float32, 0.5, 2, c, h, h)
	theta := tensorOf([]float64{0.4, 1.3}, dtypes.Float32, 2)
	jvpOf := func(mcfg model.Config) []*tensors.Tensor {
		names, values := s.student.Sorted()
		exec, err := NewExec(testBackend(), func(in []*Node) []*Node {
			w := model.WeightsFromNodes(names, in[:len(names)])
			k := len(names)
			guidance := Const(in[0].Graph(), []float32{4, 5})
			st := StudentJVP(func(xhat, th *Node) (*Node, *Node) {
				f, lv, _ := model.TrigFlow(mcfg, w, xhat, th, in[k+3], in[k+4], guidance, nil)
				return f, lv
			}, in[k], in[k+1], in[k+2], 0.5)
			// The gradient of a loss on F through the JVP graph, as the sCM loss takes it.
			loss := ReduceAllSum(Mul(st.F, st.JVP))
			return append([]*Node{st.F, st.JVP}, Gradient(loss, in[:k]...)...)
		})
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Finalize()
		args := make([]any, 0, len(values)+5)
		for _, v := range values {
			args = append(args, v)
		}
		args = append(args, xTheta, theta, dxdt, s.batch[BatchText], s.batch[BatchMask])
		out, err := exec.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain, rem := jvpOf(s.mcfg), jvpOf(remat)
	check("F", plain[0], rem[0])
	check("JVP", plain[1], rem[1])
	names := model.SortedNames(s.student)
	for i, n := range names {
		check("∂(F·JVP)/∂"+n, plain[2+i], rem[2+i])
	}

	// The G and D losses with their gradients.
	for _, phase := range []string{"g", "d"} {
		run := func(mcfg model.Config) stepResult {
			if phase == "g" {
				loss, err := GeneratorLoss(cfg, mcfg, PhaseRatio{})
				if err != nil {
					t.Fatal(err)
				}
				return evalLoss(t, loss, stepRun{trainable: s.student, frozen: union(prefixed(TeacherGroup, s.teacher), prefixed(HeadsGroup, heads)),
					buffers: buffers, batch: s.batch, seed: 9, step: 100})
			}
			loss, err := DiscriminatorLoss(cfg, mcfg)
			if err != nil {
				t.Fatal(err)
			}
			return evalLoss(t, loss, stepRun{trainable: heads, frozen: union(prefixed(TeacherGroup, s.teacher), prefixed(StudentGroup, s.student)),
				buffers: buffers, batch: s.batch, seed: 10, step: 101})
		}
		a, b := run(s.mcfg), run(remat)
		if a.loss != b.loss {
			t.Errorf("%s loss %v with grad_checkpointing, %v without", phase, b.loss, a.loss)
		}
		for n, v := range a.metrics {
			if b.metrics[n] != v {
				t.Errorf("%s metric %s: %v with grad_checkpointing, %v without", phase, n, b.metrics[n], v)
			}
		}
		// Gradients: the rematerialised backward pass accumulates the same terms in another order
		// where a weight is used by several network calls (the sCM forward and the LADD forward of
		// the student), so float32 sums may differ in the last bits: compare against the largest
		// gradient of the phase.
		var scale, diff float64
		for n, g := range a.grads {
			x, y := floatsOf(t, g), floatsOf(t, b.grads[n])
			for i := range x {
				scale = math.Max(scale, math.Abs(x[i]))
				diff = math.Max(diff, math.Abs(x[i]-y[i]))
			}
		}
		t.Logf("%s: loss %.6g, %d gradients, largest difference %.3g of the largest gradient %.3g", phase, a.loss, len(a.grads), diff/scale, scale)
		if !(diff <= gradTol*scale) {
			t.Errorf("%s gradients differ by %.3g of the largest gradient with grad_checkpointing (tolerance %g)", phase, diff/scale, gradTol)
		}
	}
	t.Logf("F, JVP and the gradient through the JVP: largest relative difference %g", worst)
}

// gradTol bounds the gradient differences of TestGradCheckpointingIsExact relative to the
// largest gradient: a few float32 roundings of a reassociated sum.
const gradTol = 1e-5
