package distill

import (
	"math"
	"slices"
	"strings"
	"testing"

	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// tinyDistillConfig is the reference config adapted to the tiny preset (depth 2).
func tinyDistillConfig() Config {
	cfg := DefaultConfig()
	cfg.HeadBlockIDs = []int{0, 1}
	return cfg
}

// TestGradientStructure checks, for the reference config and its variants, that the generator
// loss has gradients for the student only and the discriminator loss for the heads only, and
// that only the D phase returns (updated) spectral-norm buffers.
func TestGradientStructure(t *testing.T) {
	s := newTiny(t, "float32", 4, 1)
	variants := []struct {
		name string
		mod  func(*Config)
	}{
		{"reference", func(*Config) {}},
		{"scm-only", func(c *Config) { c.AdvLambda = 0 }},
		{"ladd-only", func(c *Config) { c.ScmLambda = 0 }},
		{"no-largest-timestep,r1,shared-theta,no-misaligned,no-cfg", func(c *Config) {
			c.TrainLargestTimestep, c.R1Weight, c.DiffTimestepsD, c.MisalignedPairs = false, 1e-5, false, false
			c.CfgScales = []float64{1}
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			cfg := tinyDistillConfig()
			cfg.TangentWarmupSteps = 10
			v.mod(&cfg)
			heads, buffers, gLoss := headsAndGenerator(t, cfg, s.mcfg)
			frozenG := prefixed(TeacherGroup, s.teacher)
			bufG := map[string]*tensors.Tensor{}
			if cfg.LADD() {
				frozenG, bufG = union(frozenG, prefixed(HeadsGroup, heads)), buffers
			}
			g := evalLoss(t, gLoss, stepRun{trainable: s.student, frozen: frozenG, buffers: bufG, batch: s.batch, seed: 5, step: 4})
			t.Logf("G: loss %.4g metrics %v", g.loss, g.metrics)
			// The frozen groups (teacher, heads) are not wrapped in StopGradient (see frozen): the
			// LADD term reaches them through the teacher's features, and a step leaves them alone
			// because it differentiates the Trainable group only. Their gradients are left out.
			checkGrads(t, "G", trainableOnly(g.grads), func(name string) bool { return !strings.Contains(name, train.GroupSeparator) })
			if len(g.buffers) != 0 {
				t.Errorf("G phase returned %d buffers; the heads run in eval mode", len(g.buffers))
			}
			if r, ok := g.metrics["tangent_warmup"]; cfg.SCM() && math.Abs(r-0.4) > 1e-6 || ok != cfg.SCM() {
				t.Errorf("tangent_warmup at step 4 of 10: got %v (present %v), want 0.4 with sCM on", r, ok)
			}
			if !cfg.LADD() {
				if _, err := DiscriminatorLoss(cfg, s.mcfg); err == nil {
					t.Errorf("DiscriminatorLoss accepted adv_lambda = 0")
				}
				return
			}
			dLoss, err := DiscriminatorLoss(cfg, s.mcfg)
			if err != nil {
				t.Fatal(err)
			}
			d := evalLoss(t, dLoss, stepRun{
				trainable: heads,
				frozen:    union(prefixed(TeacherGroup, s.teacher), prefixed(StudentGroup, s.student)),
				buffers:   buffers, batch: s.batch, seed: 6, step: 5,
			})
			t.Logf("D: loss %.4g metrics %v", d.loss, d.metrics)
			checkGrads(t, "D", d.grads, func(name string) bool { return !strings.Contains(name, train.GroupSeparator) })
			if len(d.buffers) != len(buffers) {
				t.Errorf("D phase returned %d buffers, want all %d", len(d.buffers), len(buffers))
			}
			for n, b := range d.buffers {
				if maxAbs(b) == 0 {
					t.Errorf("buffer %s is zero after the power iteration", n)
				}
			}
			if r1, ok := d.metrics["r1_penalty"]; ok != (cfg.R1Weight > 0) || ok && !(r1 > 0) {
				t.Errorf("r1_penalty = %v (present %v) with r1_weight %v", r1, ok, cfg.R1Weight)
			}
		})
	}
}

// trainableOnly drops the gradients of the frozen groups ("<group>/<name>").
func trainableOnly(grads map[string]*tensors.Tensor) map[string]*tensors.Tensor {
	out := make(map[string]*tensors.Tensor, len(grads))
	for n, g := range grads {
		if !strings.Contains(n, train.GroupSeparator) {
			out[n] = g
		}
	}
	return out
}

// checkGrads asserts that exactly the names accepted by live have a nonzero gradient: every
// frozen one is exactly zero, and most trainable ones are nonzero.
func checkGrads(t *testing.T, phase string, grads map[string]*tensors.Tensor, live func(string) bool) {
	t.Helper()
	var nonzero, trainable int
	for n, gr := range grads {
		m := maxAbs(gr)
		if live(n) {
			trainable++
			if m > 0 {
				nonzero++
			}
		} else if m != 0 {
			t.Errorf("%s: frozen %s has gradient max|g| = %g", phase, n, m)
		}
	}
	if trainable == 0 || nonzero < trainable*3/4 {
		t.Errorf("%s: only %d of %d trainable tensors have a nonzero gradient", phase, nonzero, trainable)
	}
	t.Logf("%s: %d of %d trainable tensors have nonzero gradients", phase, nonzero, trainable)
}

// studentF returns the tiny student's TrigFlow F as a JVP-able function of (x̂, θ).
func studentF(s tinySetup, w map[string]*Node, text, mask, guidance *Node) func(in []*Node) []*Node {
	return func(in []*Node) []*Node {
		f, _, _ := model.TrigFlow(s.mcfg, model.Weights(w), in[0], in[1], text, mask, guidance, nil)
		return []*Node{f}
	}
}

// TestJVPStudentFiniteDifferences checks the double-VJP JVP through the whole tiny student
// (float64) against central finite differences along the sCM tangent direction.
func TestJVPStudentFiniteDifferences(t *testing.T) {
	s := newTiny(t, "float64", 2, 3)
	rng := rand.New(rand.NewPCG(11, 12))
	c, h := s.mcfg.InChannels, s.mcfg.LatentSize
	xhat := randTensor(rng, dtypes.Float64, 1, 2, c, h, h)
	vx := randTensor(rng, dtypes.Float64, 1, 2, c, h, h)
	theta := []float64{0.3, 1.2}
	vt := []float64{0.7, -0.4}
	names, values := s.student.Sorted()
	run := func(build func(f func([]*Node) []*Node, x, th, vx, vt *Node) []*Node, eps float64) []*tensors.Tensor {
		exec, err := NewExec(testBackend(), func(in []*Node) []*Node {
			w := map[string]*Node{}
			for i, n := range names {
				w[n] = in[i]
			}
			k := len(names)
			g := in[0].Graph()
			guidance := Const(g, []float64{4, 5})
			f := studentF(s, w, in[k+4], in[k+5], guidance)
			return build(f, in[k], in[k+1], in[k+2], in[k+3])
		})
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Finalize()
		out, err := exec.Exec(execArgs(values, xhat, theta, vx, vt, s.batch[BatchText], s.batch[BatchMask])...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	jvp := run(func(f func([]*Node) []*Node, x, th, vx, vt *Node) []*Node {
		_, j := JVP(f, []*Node{x, th}, []*Node{vx, vt})
		return j
	}, 0)[0]
	const h2 = 1e-5
	shifted := func(eps float64) *tensors.Tensor {
		return run(func(f func([]*Node) []*Node, x, th, vx, vt *Node) []*Node {
			return f([]*Node{Add(x, MulScalar(vx, eps)), Add(th, MulScalar(vt, eps))})
		}, eps)[0]
	}
	plus, minus := flat(shifted(h2)), flat(shifted(-h2))
	got := flat(jvp)
	var maxErr, maxRef float64
	for i := range got {
		fd := (plus[i] - minus[i]) / (2 * h2)
		maxErr = max(maxErr, math.Abs(got[i]-fd))
		maxRef = max(maxRef, math.Abs(fd))
	}
	t.Logf("student JVP vs central differences: max |err| %.3g, max |JVP| %.3g", maxErr, maxRef)
	if maxRef == 0 || maxErr > 1e-6*maxRef {
		t.Errorf("student JVP disagrees with finite differences: max error %g for values up to %g", maxErr, maxRef)
	}
}

// TestStepLeavesFrozenGroups runs a G and a D step as the job does (trainable weights and
// optimizer state donated) and checks that the frozen groups, which are not wrapped in
// StopGradient, come out bitwise as they went in while the trainable group moved.
func TestStepLeavesFrozenGroups(t *testing.T) {
	s := newTiny(t, "float32", 2, 3)
	cfg := tinyDistillConfig()
	heads, buffers, gLoss := headsAndGenerator(t, cfg, s.mcfg)
	dLoss, err := DiscriminatorLoss(cfg, s.mcfg)
	if err != nil {
		t.Fatal(err)
	}
	opt := &train.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	donate := train.Donation{Trainable: true, OptState: true}
	// snapshot copies a group's values, to compare after the step.
	snapshot := func(g map[string]*tensors.Tensor) map[string][]float64 {
		out := map[string][]float64{}
		for n, v := range g {
			out[n] = flat(v)
		}
		return out
	}
	// same reports the tensors of g that differ from before.
	same := func(what string, before map[string][]float64, g map[string]*tensors.Tensor) {
		t.Helper()
		for n, v := range g {
			if !slices.Equal(before[n], flat(v)) {
				t.Errorf("%s: frozen tensor %s changed", what, n)
			}
		}
	}
	rng := func(seed int64) *tensors.Tensor {
		r, err := RNGStateFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	frozenG := union(prefixed(TeacherGroup, s.teacher), prefixed(HeadsGroup, heads))
	beforeG := snapshot(frozenG)
	student0 := snapshot(s.student)
	gStep := train.NewStepper(testBackend(), "G", gLoss, opt, 1)
	res, err := gStep.StepDonating(donate, train.Group(s.student), frozenG, train.Group(buffers), opt.InitState(train.Group(s.student)), s.batch, rng(1), 1e-3, 0)
	if err != nil {
		t.Fatal(err)
	}
	same("G step", beforeG, frozenG)
	var moved int
	for n, v := range res.Trainable {
		if !slices.Equal(student0[n], flat(v)) {
			moved++
		}
	}
	if moved < len(res.Trainable)/2 {
		t.Errorf("G step: only %d of %d student tensors moved", moved, len(res.Trainable))
	}

	frozenD := union(prefixed(TeacherGroup, s.teacher), prefixed(StudentGroup, res.Trainable))
	beforeD := snapshot(frozenD)
	dStep := train.NewStepper(testBackend(), "D", dLoss, opt, 1)
	if _, err := dStep.StepDonating(donate, train.Group(heads), frozenD, train.Group(buffers), opt.InitState(train.Group(heads)), s.batch, rng(2), 1e-3, 1); err != nil {
		t.Fatal(err)
	}
	same("D step", beforeD, frozenD)
}
