package distill

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// controlSetup is a tiny model of depth 3 with a teacher, a student, fresh ControlNets copied
// from each (zero projections), random ControlNets, and a batch with control latents.
type controlSetup struct {
	tinySetup
	ccfg                       ControlConfig
	teacherFresh, studentFresh model.Params
	teacherRandom, studentRand model.Params
	batchWithCtl               map[string]*tensors.Tensor
}

func newControlSetup(t *testing.T, dtype string, b int) controlSetup {
	t.Helper()
	mcfg, err := model.PresetConfig(model.PresetTiny)
	if err != nil {
		t.Fatal(err)
	}
	mcfg.DType, mcfg.Depth = dtype, 3
	s := controlSetup{tinySetup: newTinyFrom(t, mcfg, b, 11), ccfg: DefaultControlConfig()}
	s.ccfg.NumLayers, s.ccfg.ConditioningScale = 2, 0.9
	if s.teacherFresh, err = model.ControlNetFromTeacher(mcfg, 2, s.teacher); err != nil {
		t.Fatal(err)
	}
	if s.studentFresh, err = model.ControlNetFromTeacher(mcfg, 2, s.student); err != nil {
		t.Fatal(err)
	}
	dt, _ := mcfg.ComputeDType()
	rng := rand.New(rand.NewPCG(12, 1))
	randomize := func(p model.Params) model.Params {
		out := model.Params{}
		for name, v := range p {
			out[name] = randTensor(rng, dt, 0.1, v.Shape().Dimensions...)
		}
		return out
	}
	s.teacherRandom, s.studentRand = randomize(s.teacherFresh), randomize(s.studentFresh)
	s.batchWithCtl = union(s.batch, map[string]*tensors.Tensor{
		BatchControl: randTensor(rng, dt, 1, s.batch[BatchLatent].Shape().Dimensions...),
	})
	return s
}

func controlDistillConfig() Config {
	cfg := DefaultConfig()
	cfg.HeadBlockIDs = []int{0, 2}
	cfg.TangentWarmupSteps = 10
	return cfg
}

// TestFreshControlNetLossesEqualPlain: with ControlNets copied from their networks (zero
// projections), the ControlNet G loss, D loss and flow-matching loss equal the plain losses of
// the same step (same draws), since the residuals are exactly zero; every ControlNet tensor of
// the trained group is then a trainable input with a gradient, and a ControlNet's
// controlnet_blocks get a non-zero one (the zero projections learn first).
func TestFreshControlNetLossesEqualPlain(t *testing.T) {
	s := newControlSetup(t, "float64", 4)
	cfg := controlDistillConfig()
	heads, buffers, err := InitHeads(cfg, s.mcfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	// built returns a loss function, failing t when it cannot be built.
	built := func(fn train.LossFn, err error) train.LossFn {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return fn
	}
	teacherJoined := model.JoinControl(s.teacher, s.teacherFresh)
	studentJoined := model.JoinControl(s.student, s.studentFresh)

	gPlain := built(GeneratorLoss(cfg, s.mcfg, PhaseRatio{}))
	gCtl := built(ControlGeneratorLoss(cfg, s.ccfg, s.mcfg, PhaseRatio{}))
	plain := evalLoss(t, gPlain, stepRun{trainable: s.student, frozen: union(prefixed(TeacherGroup, s.teacher), prefixed(HeadsGroup, heads)),
		buffers: buffers, batch: s.batch, seed: 5, step: 4})
	ctl := evalLoss(t, gCtl, stepRun{trainable: studentJoined, frozen: union(prefixed(TeacherGroup, teacherJoined), prefixed(HeadsGroup, heads)),
		buffers: buffers, batch: s.batchWithCtl, seed: 5, step: 4})
	if d := math.Abs(plain.loss - ctl.loss); d > 1e-12*math.Abs(plain.loss) {
		t.Errorf("G loss with fresh ControlNets %.15g, plain %.15g", ctl.loss, plain.loss)
	}
	for k, v := range plain.metrics {
		if math.Abs(ctl.metrics[k]-v) > 1e-12*(1+math.Abs(v)) {
			t.Errorf("G metric %s: %.15g with control, %.15g plain", k, ctl.metrics[k], v)
		}
	}
	if maxAbs(ctl.grads[model.ControlNetPrefix+"controlnet_blocks.1.weight"]) == 0 {
		t.Error("G: the student ControlNet's output projection gets no gradient")
	}
	// The frozen teacher is not differentiated by a step (it takes the Trainable group's
	// gradient only), and not wrapped in StopGradient either (see frozen): its gradient here,
	// where evalLoss also asks for it, is that of the LADD term through its features.

	dPlain := built(DiscriminatorLoss(cfg, s.mcfg))
	dCtl := built(ControlDiscriminatorLoss(cfg, s.ccfg, s.mcfg))
	dp := evalLoss(t, dPlain, stepRun{trainable: heads, frozen: union(prefixed(TeacherGroup, s.teacher), prefixed(StudentGroup, s.student)),
		buffers: buffers, batch: s.batch, seed: 6, step: 5})
	dc := evalLoss(t, dCtl, stepRun{trainable: heads, frozen: union(prefixed(TeacherGroup, teacherJoined), prefixed(StudentGroup, studentJoined)),
		buffers: buffers, batch: s.batchWithCtl, seed: 6, step: 5})
	if d := math.Abs(dp.loss - dc.loss); d > 1e-12*(1+math.Abs(dp.loss)) {
		t.Errorf("D loss with fresh ControlNets %.15g, plain %.15g", dc.loss, dp.loss)
	}

	fmPlain := built(FlowMatchingLoss(cfg, s.mcfg))
	fmCtl := built(ControlFlowMatchingLoss(cfg, s.ccfg, s.mcfg))
	fp := evalLoss(t, fmPlain, stepRun{trainable: s.teacher, batch: s.batch, seed: 7})
	fc := evalLoss(t, fmCtl, stepRun{trainable: s.teacherFresh, frozen: prefixed(TeacherGroup, s.teacher), batch: s.batchWithCtl, seed: 7})
	if fp.loss != fc.loss {
		t.Errorf("flow-matching loss with a fresh ControlNet %.17g, plain %.17g", fc.loss, fp.loss)
	}
	if maxAbs(fc.grads["controlnet_blocks.0.weight"]) == 0 || maxAbs(fc.grads["controlnet_blocks.0.bias"]) == 0 {
		t.Error("flow matching: controlnet_blocks.0 gets no gradient")
	}
	// The frozen teacher is left alone by a step, which differentiates the Trainable group only
	// (it is not wrapped in StopGradient, see frozen).
}

// TestControlLossesSeeTheControl: with random (trained-like) ControlNets the losses depend on
// the control latents: changing them changes the G loss and the flow-matching loss.
func TestControlLossesSeeTheControl(t *testing.T) {
	s := newControlSetup(t, "float32", 2)
	cfg := controlDistillConfig()
	cfg.AdvLambda = 0 // sCM only: the JVP path with the control held fixed
	g, err := ControlGeneratorLoss(cfg, s.ccfg, s.mcfg, PhaseRatio{})
	if err != nil {
		t.Fatal(err)
	}
	fm, err := ControlFlowMatchingLoss(cfg, s.ccfg, s.mcfg)
	if err != nil {
		t.Fatal(err)
	}
	other := union(s.batchWithCtl, map[string]*tensors.Tensor{
		BatchControl: randTensor(rand.New(rand.NewPCG(99, 1)), dtypes.Float32, 1, s.batch[BatchLatent].Shape().Dimensions...),
	})
	run := func(batch map[string]*tensors.Tensor) (float64, float64) {
		a := evalLoss(t, g, stepRun{trainable: model.JoinControl(s.student, s.studentRand), frozen: prefixed(TeacherGroup, model.JoinControl(s.teacher, s.teacherRandom)), batch: batch, seed: 3, step: 20})
		b := evalLoss(t, fm, stepRun{trainable: s.teacherRandom, frozen: prefixed(TeacherGroup, s.teacher), batch: batch, seed: 3})
		return a.loss, b.loss
	}
	g1, f1 := run(s.batchWithCtl)
	g2, f2 := run(other)
	if math.IsNaN(g1) || g1 == g2 || f1 == f2 {
		t.Errorf("losses do not depend on the control: G %v / %v, FM %v / %v", g1, g2, f1, f2)
	}
	if _, err := ControlGeneratorLoss(cfg, ControlConfig{NumLayers: 3, ConditioningScale: 1}, s.mcfg, PhaseRatio{}); err == nil || !strings.Contains(err.Error(), "control.num_layers") {
		t.Errorf("num_layers = depth: err = %v", err)
	}
	if err := (ControlConfig{NumLayers: 0, ConditioningScale: -1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "control.num_layers") || !strings.Contains(err.Error(), "control.conditioning_scale") {
		t.Errorf("Validate: %v", err)
	}
}

// TestControlSamplers: with a fresh ControlNet the samplers give exactly the plain samplers'
// latents; with a random one they differ; a control latent of the wrong shape is refused.
func TestControlSamplers(t *testing.T) {
	s := newControlSetup(t, "float32", 2)
	text, mask, null := s.batch[BatchText], s.batch[BatchMask], s.batch[NullEmbedding]
	noise := s.batch[BatchLatent]
	cond := s.batchWithCtl[BatchControl]
	ss := StudentSampling{Steps: 2, Guidance: 4.5, Seed: 3}
	plain, err := SampleStudent(testBackend(), s.mcfg, s.student, text, mask, noise, ss)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := SampleStudentControl(testBackend(), s.mcfg, s.student, ControlInput{Weights: s.studentFresh, Layers: 2, Scale: 1, Cond: cond}, text, mask, noise, ss)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(flat(plain), flat(fresh)); d != 0 {
		t.Errorf("student: fresh ControlNet changes the samples by %g", d)
	}
	random, err := SampleStudentControl(testBackend(), s.mcfg, s.student, ControlInput{Weights: s.studentRand, Layers: 2, Scale: 1, Cond: cond}, text, mask, noise, ss)
	if err != nil {
		t.Fatal(err)
	}
	if maxDiff(flat(plain), flat(random)) < 1e-4 {
		t.Error("student: a random ControlNet does not change the samples")
	}
	ts := TeacherSampling{Steps: 3, CFGScale: 2}
	tPlain, err := SampleTeacher(testBackend(), s.mcfg, s.teacher, text, mask, null, noise, ts)
	if err != nil {
		t.Fatal(err)
	}
	tFresh, err := SampleTeacherControl(testBackend(), s.mcfg, s.teacher, ControlInput{Weights: s.teacherFresh, Layers: 2, Scale: 1, Cond: cond}, text, mask, null, noise, ts)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(flat(tPlain), flat(tFresh)); d != 0 {
		t.Errorf("teacher: fresh ControlNet changes the samples by %g", d)
	}
	_, err = SampleStudentControl(testBackend(), s.mcfg, s.student, ControlInput{Weights: s.studentFresh, Layers: 2, Scale: 1, Cond: text}, text, mask, noise, ss)
	if err == nil || !strings.Contains(err.Error(), "control latents") {
		t.Errorf("wrong control shape: err = %v", err)
	}
}

func maxDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
