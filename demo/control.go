package demo

// The control demo (control.enabled, configs/demo_control.yaml, `make demo-control`): the
// shipped shapes teacher gets a ControlNet trained on outline maps of the requested shapes, a
// one-step Sprint-ControlNet student is distilled from the two, and an unconditioned student
// from the teacher alone with the same recipe; every row is scored by how often it draws each
// object where the control map puts it (eval/shapes.Place, the exact detector).

import (
	"context"
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/eval/shapes"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Row kinds of the control demo.
const (
	KindTeacher        = "teacher"            // the teacher without ControlNet
	KindTeacherControl = "teacher+controlnet" // the teacher with its ControlNet
	KindStudentControl = "student+controlnet" // the Sprint-ControlNet student
	KindStudent        = "student"            // the unconditioned student
)

// ControlRow is one line of the control demo's table.
type ControlRow struct {
	Name      string
	Kind      string // KindTeacher, …
	Steps     int
	Placement shapes.PlacementAccuracy
	Acc       shapes.Accuracy
	FD        float64
	MsPer     float64 // sampling wall time per image (graph compilation included), ms
	Grid      string  // PNG of the first grid_prompts samples, relative to the demo folder
	images    []image.Image
}

// ControlReport is what the control demo measured.
type ControlReport struct {
	Rows     []ControlRow
	Trained  map[string]time.Duration // wall time per training: "controlnet", "student+controlnet", "student"
	Prompts  []string
	Controls []image.Image // the control maps of the grid prompts
	Total    time.Duration
	Overview string
}

// Find returns the row of a kind and step count, or nil.
func (r *ControlReport) Find(kind string, steps int) *ControlRow {
	for i := range r.Rows {
		if r.Rows[i].Kind == kind && r.Rows[i].Steps == steps {
			return &r.Rows[i]
		}
	}
	return nil
}

// RunControl runs the control demo: it makes the shapes data with outline control latents if
// absent, trains the teacher's ControlNet by flow matching (demo.controlnet_steps), distils the
// Sprint-ControlNet student and an unconditioned student (train.max_steps each, the same
// recipe), samples every network on the held-out prompts with their own control maps and the
// same noise, and writes <demo.dir>/report.md with the placement accuracy of each row and a
// side-by-side grid (control map, teacher with ControlNet, one-step students).
func RunControl(ctx context.Context, backend compute.Backend, cfg *config.Config, opts Options) (*ControlReport, error) {
	dc, cc := cfg.Demo, cfg.Control
	if !cc.Enabled {
		return nil, errors.New("control demo: control.enabled is false (use configs/demo_control.yaml)")
	}
	if cfg.Data.Shapes.Control != data.ShapesControlOutline {
		return nil, fmt.Errorf("control demo: data.shapes.control must be %q (the outline maps the ControlNet learns), got %q",
			data.ShapesControlOutline, cfg.Data.Shapes.Control)
	}
	s, err := begin(ctx, backend, cfg, opts, func(mcfg model.Config) error { return model.ValidateControlLayers(mcfg, cc.NumLayers) })
	if err != nil {
		return nil, err
	}
	h, mcfg, teacher := s.held, s.mcfg, s.teacher
	rep := &ControlReport{Trained: map[string]time.Duration{}, Prompts: h.prompts}

	// Held-out scenes: their control latents and maps.
	var condVals []float32
	var condShape [3]int
	for i, scene := range h.scenes {
		lat, shape, err := data.ShapesControlLatent(scene, cfg.Data.Shapes.Patch)
		if err != nil {
			return nil, err
		}
		condVals, condShape = append(condVals, lat...), shape
		if i < dc.GridPrompts {
			img, err := data.ControlImage(scene)
			if err != nil {
				return nil, err
			}
			rep.Controls = append(rep.Controls, img)
		}
	}
	cond := tensors.FromFlatDataAndDimensions(condVals, dc.Prompts, condShape[0], condShape[1], condShape[2])
	text, mask, null, noise, w := h.text, h.mask, h.null, h.noise, h.guidance

	score := func(name, kind string, steps int, sample func() (*tensors.Tensor, error)) error {
		fmt.Fprintf(s.out, "demo: sampling %s\n", name)
		t0 := time.Now()
		lat, err := sample()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		elapsed := time.Since(t0)
		sc, err := h.score(lat, dc.GridPrompts, true)
		if err != nil {
			return err
		}
		rep.Rows = append(rep.Rows, ControlRow{Name: name, Kind: kind, Steps: steps, MsPer: float64(elapsed.Microseconds()) / 1000 / float64(dc.Prompts),
			images: sc.images, FD: sc.fd, Acc: sc.acc, Placement: sc.placement})
		return nil
	}

	// trainIn runs one of the three trainings in <demo.dir>/<sub>, its run named after sub, and
	// records its wall time under key.
	trainIn := func(c config.Config, kind job.Kind, sub, key, what string) (map[string]train.Group, error) {
		c.Train.Name = cfg.Train.Name + "_" + sub
		groups, took, err := s.train(&c, training{kind: kind, dir: filepath.Join(dc.Dir, sub), what: what, name: what,
			stop: "stopped (%s) at step %d; rerun `make demo-control` (or sprint demo --resume) to continue"})
		if err != nil {
			return nil, err
		}
		rep.Trained[key] = took
		return groups, nil
	}

	// 1. The teacher's ControlNet, by flow matching with the teacher frozen.
	ccfg := *cfg
	ccfg.Train.MaxSteps = int64(dc.ControlNetSteps)
	if dc.ControlNetLR > 0 {
		ccfg.Train.Optimizer.LR = dc.ControlNetLR
	}
	ccfg.Control.TeacherWeights = ""
	groups, err := trainIn(ccfg, job.Teacher, "controlnet", "controlnet", "training the teacher's ControlNet (flow matching, teacher frozen)")
	if err != nil {
		return nil, err
	}
	teacherCtrl := model.Params(groups[distill.ControlNetGroup])

	// 2. The Sprint-ControlNet student: the student and its ControlNet by sCM + LADD.
	scfg := *cfg
	scfg.Control.TeacherWeights = filepath.Join(dc.Dir, "controlnet", "export", job.ControlNetExport)
	if groups, err = trainIn(scfg, job.Distill, "student_controlnet", "student+controlnet",
		"distilling the Sprint-ControlNet student (sCM + LADD, the teacher with its ControlNet)"); err != nil {
		return nil, err
	}
	student, studentCtrl := model.SplitControl(sampledStudent(&scfg, groups))

	// 3. The unconditioned student, same recipe without ControlNet.
	ucfg := *cfg
	ucfg.Control.Enabled = false
	if groups, err = trainIn(ucfg, job.Distill, "student", "student", "distilling the unconditioned student (sCM + LADD, same recipe)"); err != nil {
		return nil, err
	}
	plain := sampledStudent(&ucfg, groups)

	// Rows, every one from the same prompts, controls and noise.
	tIn := distill.ControlInput{Weights: teacherCtrl, Layers: cc.NumLayers, Scale: cc.ConditioningScale, Cond: cond}
	sIn := distill.ControlInput{Weights: studentCtrl, Layers: cc.NumLayers, Scale: cc.ConditioningScale, Cond: cond}
	refSteps := maxInt(dc.TeacherSteps)
	if refSteps == 0 {
		refSteps = job.TeacherValidationSteps
	}
	ts := distill.TeacherSampling{Steps: refSteps, CFGScale: w}
	type row struct {
		name, kind string
		steps      int
		sample     func() (*tensors.Tensor, error)
	}
	rows := []row{
		{fmt.Sprintf("teacher, %d steps, no ControlNet", refSteps), KindTeacher, refSteps, func() (*tensors.Tensor, error) {
			return distill.SampleTeacher(backend, mcfg, teacher, text, mask, null, noise, ts)
		}},
		{fmt.Sprintf("teacher + ControlNet, %d steps", refSteps), KindTeacherControl, refSteps, func() (*tensors.Tensor, error) {
			return distill.SampleTeacherControl(backend, mcfg, teacher, tIn, text, mask, null, noise, ts)
		}},
	}
	for _, s := range dc.StudentSteps {
		ss := distill.StudentSampling{Steps: s, Guidance: w, Seed: int64(dc.NoiseSeed)}
		rows = append(rows, row{fmt.Sprintf("Sprint-ControlNet student, %d step%s", s, plural(s)), KindStudentControl, s, func() (*tensors.Tensor, error) {
			return distill.SampleStudentControl(backend, mcfg, student, sIn, text, mask, noise, ss)
		}})
	}
	for _, s := range dc.StudentSteps {
		ss := distill.StudentSampling{Steps: s, Guidance: w, Seed: int64(dc.NoiseSeed)}
		rows = append(rows, row{fmt.Sprintf("unconditioned student, %d step%s", s, plural(s)), KindStudent, s, func() (*tensors.Tensor, error) {
			return distill.SampleStudent(backend, mcfg, plain, text, mask, noise, ss)
		}})
	}
	for _, r := range rows {
		if err := score(r.name, r.kind, r.steps, r.sample); err != nil {
			return nil, err
		}
	}
	if err := writeControlReport(cfg, rep, s.start); err != nil {
		return nil, err
	}
	s.done(dc.Dir, rep.Total)
	return rep, nil
}
