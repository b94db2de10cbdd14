package distill

import (
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Benchmarks on the "demo" preset (D = 128, 4 blocks, 16×16×12 latents with patch 2, captions
// 16×32), batch 8, float32. Compare the ns/op of
//   - BenchmarkStudentJVP / BenchmarkStudentForward: the cost of F and its JVP against F alone;
//   - BenchmarkGeneratorStep and BenchmarkDiscriminatorStep / BenchmarkFlowMatchingStep: whole
//     training steps (loss, gradients, clipping, AdamW) through train.Stepper.

const benchBatch = 8

func benchSetup(b *testing.B) (tinySetup, Config) {
	b.Helper()
	mcfg, err := model.PresetConfig(model.PresetDemo)
	if err != nil {
		b.Fatal(err)
	}
	s := newTinyFrom(b, mcfg, benchBatch, 1)
	cfg := DefaultConfig()
	cfg.HeadBlockIDs = []int{1, 3}
	return s, cfg
}

// studentRunner compiles the student at (x̂, θ) returning either F or (F, JVP) and returns a
// function that runs it once.
func studentRunner(b *testing.B, s tinySetup, withJVP bool) func() {
	names, values := s.student.Sorted()
	rng := newRand(2)
	dims := s.batch[BatchLatent].Shape().Dimensions
	xhat := randTensor(rng, s.batch[BatchLatent].DType(), 1, dims...)
	vx := randTensor(rng, s.batch[BatchLatent].DType(), 1, dims...)
	theta := tensorOf([]float64{0.2, 0.4, 0.6, 0.8, 1, 1.2, 1.4, 1.5}, xhat.DType(), benchBatch)
	exec, err := NewExec(testBackend(), func(in []*Node) []*Node {
		w := map[string]*Node{}
		for i, n := range names {
			w[n] = in[i]
		}
		k := len(names)
		x, th, v, text, mask := in[k], in[k+1], in[k+2], in[k+3], in[k+4]
		guidance := OnesLike(th)
		f := studentF(s, w, text, mask, guidance)
		if !withJVP {
			return f([]*Node{x, th})
		}
		outs, jvps := JVP(f, []*Node{x, th}, []*Node{v, OnesLike(th)})
		return []*Node{outs[0], jvps[0]}
	})
	if err != nil {
		b.Fatal(err)
	}
	args := execArgs(values, xhat, theta, vx, s.batch[BatchText], s.batch[BatchMask])
	once := func() {
		if _, err := exec.Exec(args...); err != nil {
			b.Fatal(err)
		}
	}
	once()
	return once
}

func benchLoop(b *testing.B, once func()) {
	for b.Loop() {
		once()
	}
}

func BenchmarkStudentForward(b *testing.B) {
	s, _ := benchSetup(b)
	benchLoop(b, studentRunner(b, s, false))
}

func BenchmarkStudentJVP(b *testing.B) {
	s, _ := benchSetup(b)
	benchLoop(b, studentRunner(b, s, true))
}

// minTimes runs the functions in turn rounds times and returns each one's fastest run: on a
// shared machine the minimum is the most stable estimate of the cost, and interleaving exposes
// every function to the same load.
func minTimes(rounds int, fns ...func()) []time.Duration {
	best := make([]time.Duration, len(fns))
	for range rounds {
		for i, f := range fns {
			st := time.Now()
			f()
			if d := time.Since(st); best[i] == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	return best
}

// BenchmarkJVPRatio reports the cost of (F, JVP) over the cost of F alone (metric "jvp/fwd").
func BenchmarkJVPRatio(b *testing.B) {
	s, _ := benchSetup(b)
	fwd, jvp := studentRunner(b, s, false), studentRunner(b, s, true)
	var best []time.Duration
	for b.Loop() {
		best = minTimes(5, fwd, jvp)
	}
	b.ReportMetric(float64(best[1])/float64(best[0]), "jvp/fwd")
	b.ReportMetric(float64(best[0].Microseconds())/1e3, "fwd-ms")
}

// stepRunner compiles one train.Stepper step of a loss function and returns a function that
// runs it once.
func stepRunner(b *testing.B, s tinySetup, cfg Config, fn func(Config, model.Config) (train.LossFn, error), trainable, frozen, buffers map[string]*tensors.Tensor) func() {
	loss, err := fn(cfg, s.mcfg)
	if err != nil {
		b.Fatal(err)
	}
	opt := &train.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	st := train.NewStepper(testBackend(), "bench", loss, opt, 0.1)
	tr := train.Group(trainable)
	state := opt.InitState(tr)
	var i int64
	once := func() {
		res, err := st.Step(tr, frozen, buffers, state, s.batch, train.StepRNG(1, i, 0, 0), 1e-5, i)
		if err != nil {
			b.Fatal(err)
		}
		if res.Skipped {
			b.Fatalf("step %d skipped", i)
		}
		i++
	}
	once()
	return once
}

// phaseRunners returns one-step runners for the flow-matching, generator and discriminator phases.
func phaseRunners(b *testing.B) (fm, gen, disc func()) {
	s, cfg := benchSetup(b)
	heads, buffers, err := InitHeads(cfg, s.mcfg, 3)
	if err != nil {
		b.Fatal(err)
	}
	fm = stepRunner(b, s, cfg, FlowMatchingLoss, s.teacher, nil, nil)
	gen = stepRunner(b, s, cfg, func(c Config, m model.Config) (train.LossFn, error) { return GeneratorLoss(c, m, PhaseRatio{}) }, s.student, union(prefixed(TeacherGroup, s.teacher), prefixed(HeadsGroup, heads)), buffers)
	disc = stepRunner(b, s, cfg, DiscriminatorLoss, heads, union(prefixed(TeacherGroup, s.teacher), prefixed(StudentGroup, s.student)), buffers)
	return fm, gen, disc
}

func BenchmarkFlowMatchingStep(b *testing.B) {
	fm, _, _ := phaseRunners(b)
	benchLoop(b, fm)
}

func BenchmarkGeneratorStep(b *testing.B) {
	_, gen, _ := phaseRunners(b)
	benchLoop(b, gen)
}

func BenchmarkDiscriminatorStep(b *testing.B) {
	_, _, disc := phaseRunners(b)
	benchLoop(b, disc)
}

// BenchmarkStepRatios reports the generator and discriminator steps' costs over one
// flow-matching training step of the same model (metrics "G/FM", "D/FM").
func BenchmarkStepRatios(b *testing.B) {
	fm, gen, disc := phaseRunners(b)
	var best []time.Duration
	for b.Loop() {
		best = minTimes(3, fm, gen, disc)
	}
	b.ReportMetric(float64(best[1])/float64(best[0]), "G/FM")
	b.ReportMetric(float64(best[2])/float64(best[0]), "D/FM")
	b.ReportMetric(float64(best[0].Microseconds())/1e3, "FM-ms")
}
