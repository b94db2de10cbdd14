package distill

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/backendconfig"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
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
		out, err := exec.Exec(execArgs(values, xTheta, theta, dxdt, s.batch[BatchText], s.batch[BatchMask])...)
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

// TestGradCheckpointingLowersPeakMemory compiles the generator step (loss, gradients, CAME) of a
// deep tiny student whose activations outweigh its weights (256 tokens of width 32), on the Go
// backend in its low-memory setting (nodes run one at a time in creation order, as a run with
// model.grad_checkpointing opens it), with and without gradient checkpointing, and compares the
// backend's estimate of the step's peak temporary memory (buffers alive at once, inputs aside).
// With checkpointing each extra block must cost less than a quarter of what it costs without:
// the backward pass recomputes a block from its input just before its gradient, the sCM JVP
// runs stage by stage (StagedStudentJVP), and the JVP's value is not recomputed in the backward
// pass. (With one JVP of the whole network, recomputed in the backward pass, a block cost 0.42
// of the plain one; now about 0.03.)
func TestGradCheckpointingLowersPeakMemory(t *testing.T) {
	backend, err := compute.NewWithConfig(backendconfig.GoBackend + ":" + backendconfig.LowMemoryOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	peak := func(depth int, remat bool) int64 {
		mcfg, err := model.PresetConfig(model.PresetTiny)
		if err != nil {
			t.Fatal(err)
		}
		mcfg.DType, mcfg.Depth, mcfg.LatentSize, mcfg.GradCheckpointing = "float32", depth, 16, remat
		s := newTinyFrom(t, mcfg, 1, 3)
		cfg := tinyDistillConfig()
		heads, buffers, loss := headsAndGenerator(t, cfg, s.mcfg)
		opt, err := train.NewOptimizer(train.DefaultConfig().Optimizer)
		if err != nil {
			t.Fatal(err)
		}
		student := train.Group(s.student)
		frozen := train.Group(union(prefixed(TeacherGroup, s.teacher), prefixed(HeadsGroup, heads)))
		g, err := train.NewStepper(backend, "g", loss, opt, 1).Compile(student, frozen, train.Group(buffers), opt.InitState(student), s.batch)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Finalize()
		e, ok := g.Executable().(interface{ EstimatedTemporaryMemory() int64 })
		if !ok {
			t.Skip("the backend does not estimate its memory")
		}
		return e.EstimatedTemporaryMemory()
	}
	off4, off8, on4, on8 := peak(4, false), peak(8, false), peak(4, true), peak(8, true)
	t.Logf("peak temporaries: depth 4: %.1f MiB plain, %.1f MiB checkpointed; depth 8: %.1f MiB plain, %.1f MiB checkpointed",
		mib(off4), mib(on4), mib(off8), mib(on8))
	t.Logf("per block: %.2f MiB plain, %.2f MiB checkpointed", mib(off8-off4)/4, mib(on8-on4)/4)
	if !(on8 < off8) {
		t.Errorf("depth 8: %.1f MiB with gradient checkpointing, %.1f MiB without", mib(on8), mib(off8))
	}
	if !(4*(on8-on4) < off8-off4) {
		t.Errorf("a block costs %.2f MiB with gradient checkpointing, %.2f MiB without: want less than a quarter", mib(on8-on4)/4, mib(off8-off4)/4)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
