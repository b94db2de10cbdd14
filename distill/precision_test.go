package distill

import (
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// precisionRun is one way of keeping the tiny distillation's weights: the model config the
// losses compute with and the groups in the dtypes that precision keeps them in.
type precisionRun struct {
	mcfg               model.Config
	student, teacher   model.Params
	heads, sn          model.Params
	batch              map[string]*tensors.Tensor
	gStepper, dStepper *train.Stepper
	gState, dState     train.Group
}

// newPrecisionRun builds the G and D steppers of the tiny distillation computing in compute,
// with the student (and its optimizer state) kept in stored, the teacher in compute and the
// batch in batchDT (the released recipes store bfloat16 shards).
func newPrecisionRun(t *testing.T, s tinySetup, compute, stored, batchDT dtypes.DType, opt func() train.Optimizer) *precisionRun {
	t.Helper()
	mcfg, err := s.mcfg.WithDType(compute)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(p model.Params, dt dtypes.DType) model.Params {
		out, err := model.ConvertParams(p, dt)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cfg := tinyDistillConfig()
	r := &precisionRun{mcfg: mcfg, student: conv(s.student, stored), teacher: conv(s.teacher, compute)}
	if r.heads, r.sn, err = InitHeads(cfg, mcfg, 3); err != nil {
		t.Fatal(err)
	}
	r.batch = map[string]*tensors.Tensor{}
	for k, v := range s.batch {
		r.batch[k] = conv(model.Params{k: v}, batchDT)[k]
	}
	gLoss, err := GeneratorLoss(cfg, mcfg, PhaseRatio{})
	if err != nil {
		t.Fatal(err)
	}
	dLoss, err := DiscriminatorLoss(cfg, mcfg)
	if err != nil {
		t.Fatal(err)
	}
	r.gStepper = train.NewStepper(testBackend(), "g", gLoss, opt(), 0.1)
	r.dStepper = train.NewStepper(testBackend(), "d", dLoss, opt(), 0.1)
	r.gState = r.gStepper.Optimizer().InitState(train.Group(r.student))
	r.dState = r.dStepper.Optimizer().InitState(train.Group(r.heads))
	return r
}

// gStep runs one generator step at the given global step and lr and keeps its results.
func (r *precisionRun) gStep(t *testing.T, step int64, lr float64) train.StepResult {
	t.Helper()
	frozen := map[string]train.Group{TeacherGroup: train.Group(r.teacher), HeadsGroup: train.Group(r.heads)}
	res := r.step(t, "G", r.gStepper, 0, train.Group(r.student), r.gState, frozen, step, lr)
	r.student, r.gState = model.Params(res.Trainable), res.OptState
	return res
}

// dStep runs one discriminator step.
func (r *precisionRun) dStep(t *testing.T, step int64, lr float64) train.StepResult {
	t.Helper()
	frozen := map[string]train.Group{TeacherGroup: train.Group(r.teacher), StudentGroup: train.Group(r.student)}
	res := r.step(t, "D", r.dStepper, 1, train.Group(r.heads), r.dState, frozen, step, lr)
	r.heads, r.dState, r.sn = model.Params(res.Trainable), res.OptState, model.Params(res.Buffers)
	return res
}

// step runs one step of st (the what phase, RNG phase phase) on trainable and its optimizer
// state against the frozen groups; an error or a skipped step fails t.
func (r *precisionRun) step(t *testing.T, what string, st *train.Stepper, phase int, trainable, state train.Group, frozen map[string]train.Group, step int64, lr float64) train.StepResult {
	t.Helper()
	flat, _ := train.Flatten(frozen, slices.Collect(maps.Keys(frozen))...)
	res, err := st.Step(trainable, flat, train.Group(r.sn), state, r.batch, train.StepRNG(7, step, phase, 0), lr, step)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped {
		t.Fatalf("%s step %d skipped: loss %g, gradient norm %g", what, step, res.Loss, res.GradNorm)
	}
	return res
}

func came() train.Optimizer {
	return &train.CAME{Beta1: 0.9, Beta2: 0.999, Beta3: 0.9999, Eps1: 1e-30, Eps2: 1e-16, ClipThreshold: 1}
}

func adamw() train.Optimizer { return &train.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// movedFraction compares two parameter sets: among the elements of before with |w| >= minAbs,
// the fraction that after changes.
func movedFraction(t *testing.T, before, after model.Params, minAbs float64) (frac float64, n int) {
	t.Helper()
	var moved int
	for name, b := range before {
		x, y := floatsOf(t, b), floatsOf(t, after[name])
		for i := range x {
			if math.Abs(x[i]) < minAbs {
				continue
			}
			n++
			if x[i] != y[i] {
				moved++
			}
		}
	}
	if n == 0 {
		t.Fatal("no weight above the threshold")
	}
	return float64(moved) / float64(n), n
}

// floatsOf reads any float tensor as float64 values.
func floatsOf(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	c, err := model.ConvertParams(model.Params{"x": x}, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	return flat(c["x"])
}

// TestMixedPrecisionMovesWeights is the released recipe's situation (model.dtype bfloat16,
// bfloat16 shards, CAME at lr 2e-6): one generator step with float32 master weights (train.precision
// mixed) moves almost every student weight, the same step on bfloat16 weights (pure) moves none
// of those of magnitude >= 1/16, where half the bfloat16 spacing (2^-12) exceeds twice the
// largest update.
// A discriminator step on the same bfloat16 features and float32 heads also runs (it failed with
// "DotGeneral requires inputs with the same DType" before mixed precision).
func TestMixedPrecisionMovesWeights(t *testing.T) {
	s := newTiny(t, "float32", 2, 21)
	// Half the bfloat16 spacing at 1/16 is 2^-12: an update below half of that (a margin of
	// two) leaves every weight of magnitude >= 1/16 unchanged in bfloat16. CAME's first update
	// is up to about 40·lr per element (no bias correction), about 1e-4 at lr 2e-6.
	const lr, minAbs = 2e-6, 1.0 / 16
	mixed := newPrecisionRun(t, s, dtypes.BFloat16, dtypes.Float32, dtypes.BFloat16, came)
	before := mixed.student
	mixed.gStep(t, 0, lr)
	fracMixed, n := movedFraction(t, before, mixed.student, minAbs)
	var maxDelta float64
	for name, b := range before {
		x, y := floatsOf(t, b), floatsOf(t, mixed.student[name])
		for i := range x {
			maxDelta = math.Max(maxDelta, math.Abs(x[i]-y[i]))
		}
	}
	d := mixed.dStep(t, 1, lr)

	pure := newPrecisionRun(t, s, dtypes.BFloat16, dtypes.BFloat16, dtypes.BFloat16, came)
	beforePure := pure.student
	pure.gStep(t, 0, lr)
	fracPure, _ := movedFraction(t, beforePure, pure.student, minAbs)
	t.Logf("lr %g: %d student weights with |w| >= %g; moved: mixed %.4f, pure %.4f; largest update %.3g; D loss %.4g",
		lr, n, minAbs, fracMixed, fracPure, maxDelta, d.Loss)
	if fracMixed < 0.9 {
		t.Errorf("mixed precision moved only %.1f%% of the student weights at lr %g", 100*fracMixed, lr)
	}
	if fracPure != 0 {
		t.Errorf("the all-bfloat16 path moved %.3f%% of the weights above %g; bfloat16 rounding should absorb updates of at most %.3g",
			100*fracPure, minAbs, maxDelta)
	}
	if !(maxDelta < math.Pow(2, -12)/2) {
		t.Errorf("largest update %g is not below half the bfloat16 spacing at %g: the pure-path assertion no longer means what it says", maxDelta, minAbs)
	}
	if math.IsNaN(d.Loss) || math.IsInf(d.Loss, 0) {
		t.Errorf("D step loss %v", d.Loss)
	}
}

// TestMixedPrecisionTracksFloat32: over three G and D step pairs (AdamW, lr 1e-3 so that the
// weights move), the losses of a bfloat16-compute run with float32 masters stay within 5% of
// the float32 run's (same data, same draws).
func TestMixedPrecisionTracksFloat32(t *testing.T) {
	s := newTiny(t, "float32", 2, 22)
	const lr, tol = 1e-3, 0.05
	f32 := newPrecisionRun(t, s, dtypes.Float32, dtypes.Float32, dtypes.Float32, adamw)
	mixed := newPrecisionRun(t, s, dtypes.BFloat16, dtypes.Float32, dtypes.Float32, adamw)
	var worst float64
	for step := int64(0); step < 6; step += 2 {
		for _, phase := range []string{"g", "d"} {
			var a, b train.StepResult
			if phase == "g" {
				a, b = f32.gStep(t, step, lr), mixed.gStep(t, step, lr)
			} else {
				a, b = f32.dStep(t, step+1, lr), mixed.dStep(t, step+1, lr)
			}
			rel := math.Abs(a.Loss-b.Loss) / math.Max(math.Abs(a.Loss), 0.1)
			worst = math.Max(worst, rel)
			t.Logf("step %d %s: loss float32 %.5f, bf16 mixed %.5f (relative difference %.2g)", step, phase, a.Loss, b.Loss, rel)
			if rel > tol {
				t.Errorf("step %d %s: bf16 mixed loss %g differs from float32 %g by %.3g (tolerance %g)", step, phase, b.Loss, a.Loss, rel, tol)
			}
		}
	}
	t.Logf("largest relative loss difference %.3g", worst)
}
