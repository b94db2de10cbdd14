package job

// ControlNet jobs (control.enabled): `train-teacher` trains the teacher's ControlNet by flow
// matching with the teacher frozen; `distill` distils the student with its ControlNet by sCM +
// LADD against the teacher with its ControlNet. The groups:
//
//	train-teacher   "teacher" (frozen, reloaded on resume), "controlnet" (trained; plain names)
//	distill         "teacher" = teacher + its ControlNet under model.ControlNetPrefix (frozen),
//	                "student" = student + its ControlNet the same way (trained in the G phase),
//	                "heads", "heads_sn" as in a plain distillation
//
// A completed run exports <run>/export/controlnet (train-teacher), or <run>/export/student and
// <run>/export/student_controlnet (distill), the ControlNets as SanaControlNetModel folders.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"go.yaml.in/yaml/v3"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Export folders of a ControlNet job, under <run>/export.
const (
	ControlNetExport        = "controlnet"
	StudentControlNetExport = "student_controlnet"
)

// checkControlData checks the section against the model and that the shards have control latents.
func checkControlData(cfg *config.Config, mcfg model.Config, r *data.Reader) error {
	if err := model.ValidateControlLayers(mcfg, cfg.Control.NumLayers); err != nil {
		return err
	}
	if len(r.Shards()) > 0 && !r.Shards()[0].Layout.Control {
		return fmt.Errorf("control.enabled: the shards in data.paths (%s, …) have no control latents; a ControlNet job needs the "+
			"control column (for the shapes dataset: data.shapes.control: outline)", r.Shards()[0].Path)
	}
	return nil
}

// controlPhases loads the networks of a ControlNet job into groups and builds its phases; it
// returns the groups not saved in checkpoints (the teacher, reloaded from its files).
func controlPhases(backend compute.Backend, cfg *config.Config, mcfg model.Config, kind Kind, groups map[string]train.Group) ([]train.Phase, []string, error) {
	cc := cfg.Control
	teacher, err := LoadTeacher(cfg, mcfg, false)
	if err != nil {
		return nil, nil, fmt.Errorf("a ControlNet job needs a trained teacher: %w", err)
	}
	if kind == Teacher {
		var ctrl model.Params
		if cc.TeacherWeights != "" {
			if ctrl, err = checkpoints.LoadControlNet(cc.TeacherWeights, mcfg, cc.NumLayers); err != nil {
				return nil, nil, fmt.Errorf("control.teacher_weights: %w", err)
			}
		} else if ctrl, err = model.ControlNetFromTeacher(mcfg, cc.NumLayers, teacher); err != nil {
			return nil, nil, err
		}
		groups[distill.TeacherGroup] = train.Group(teacher)
		groups[distill.ControlNetGroup] = train.Group(ctrl)
		loss, err := distill.ControlFlowMatchingLoss(cfg.Distill, cc, mcfg)
		if err != nil {
			return nil, nil, err
		}
		phases, err := train.NewPhases(backend, cfg.Train, train.PhaseSpec{
			Name: "controlnet", Loss: loss, Trainable: distill.ControlNetGroup, Frozen: []string{distill.TeacherGroup},
			Repeat: 1, Generator: true})
		return phases, []string{distill.TeacherGroup}, err
	}

	if cc.TeacherWeights == "" {
		return nil, nil, errors.New("control.teacher_weights: a Sprint-ControlNet distillation needs the teacher's trained ControlNet " +
			"(a SanaControlNetModel folder); train one with `sprint train-teacher` and control.enabled: true")
	}
	tctrl, err := checkpoints.LoadControlNet(cc.TeacherWeights, mcfg, cc.NumLayers)
	if err != nil {
		return nil, nil, fmt.Errorf("control.teacher_weights: %w", err)
	}
	student, err := model.StudentFromTeacher(mcfg, teacher, cfg.Train.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("initialising the student from the teacher: %w", err)
	}
	sctrl := make(model.Params, len(tctrl))
	for k, v := range tctrl { // the student's ControlNet starts as a copy of the teacher's
		if sctrl[k], err = v.LocalClone(); err != nil {
			return nil, nil, err
		}
	}
	groups[distill.TeacherGroup] = train.Group(model.JoinControl(teacher, tctrl))
	groups[distill.StudentGroup] = train.Group(model.JoinControl(student, sctrl))
	dcfg := cfg.Distill
	ratio := distill.PhaseRatio{G: cfg.Train.PhaseRatio.G, D: cfg.Train.PhaseRatio.D}
	gLoss, err := distill.ControlGeneratorLoss(dcfg, cc, mcfg, ratio)
	if err != nil {
		return nil, nil, err
	}
	phases, err := gdPhases(backend, cfg, mcfg, groups, gLoss, func() (train.LossFn, error) { return distill.ControlDiscriminatorLoss(dcfg, cc, mcfg) })
	if err != nil {
		return nil, nil, err
	}
	return phases, []string{distill.TeacherGroup}, nil
}

// exportControl writes a completed ControlNet job's networks in the diffusers layout.
func (j *Job) exportControl() error {
	dir := filepath.Join(j.Run.Dir(), "export")
	groups := j.Run.Groups()
	n := j.Config.Control.NumLayers
	if j.Kind == Teacher {
		ctrl := model.Params(groups[distill.ControlNetGroup])
		if err := checkpoints.ExportControlNet(filepath.Join(dir, ControlNetExport), j.model, n, ctrl, checkpoints.ExportOptions{}); err != nil {
			return fmt.Errorf("exporting the ControlNet: %w", err)
		}
		return nil
	}
	student, ctrl := model.SplitControl(model.Params(groups[distill.StudentGroup]))
	if err := checkpoints.ExportDiffusers(filepath.Join(dir, distill.StudentGroup), j.model, student, checkpoints.ExportOptions{}); err != nil {
		return fmt.Errorf("exporting the student: %w", err)
	}
	if err := checkpoints.ExportControlNet(filepath.Join(dir, StudentControlNetExport), j.model, n, ctrl, checkpoints.ExportOptions{}); err != nil {
		return fmt.Errorf("exporting the student's ControlNet: %w", err)
	}
	return nil
}

// DatasetControls reads the control latents (n, C, H, W) of the first n rows, the rows
// DatasetPrompts reads.
func DatasetControls(ctx context.Context, r *data.Reader, n int) (*tensors.Tensor, error) {
	n = min(n, r.Len())
	var vals []float32
	var shape [3]int
	for i := range n {
		row, err := r.ReadRow(ctx, r.Ref(i))
		if err != nil {
			return nil, err
		}
		if row.Control == nil {
			return nil, fmt.Errorf("data: row %s has no control latent", r.Ref(i))
		}
		shape = row.LatentShape
		vals = append(vals, row.Control...)
	}
	if n == 0 {
		return nil, errors.New("data: no rows to take control latents from")
	}
	return tensors.FromFlatDataAndDimensions(vals, n, shape[0], shape[1], shape[2]), nil
}

// newControlValidator samples the validation rows with their own control latents: the teacher
// with its ControlNet by TeacherValidationSteps Euler steps, or the student with its ControlNet
// at 1 and 2 steps; on the shapes dataset it logs the exact accuracy and the placement score.
func newControlValidator(backend compute.Backend, cfg *config.Config, mcfg model.Config, kind Kind, r *data.Reader, null *tensors.Tensor) (train.Validator, error) {
	ctx := context.Background()
	prompts, latentShape, err := DatasetPrompts(ctx, r, ValidationPrompts)
	if err != nil {
		return nil, err
	}
	cond, err := DatasetControls(ctx, r, ValidationPrompts)
	if err != nil {
		return nil, err
	}
	noise := FixedNoise(0, len(prompts.Texts), latentShape)
	decoder := DecoderFor(r)
	w := GuidanceScale(cfg.Distill)
	cc := cfg.Control
	teacher := func(groups map[string]train.Group) (*tensors.Tensor, error) {
		in := distill.ControlInput{Weights: model.Params(groups[distill.ControlNetGroup]), Layers: cc.NumLayers, Scale: cc.ConditioningScale, Cond: cond}
		return distill.SampleTeacherControl(backend, mcfg, model.Params(groups[distill.TeacherGroup]), in, prompts.Text, prompts.Mask, null, noise,
			distill.TeacherSampling{Steps: TeacherValidationSteps, CFGScale: w})
	}
	student := func(groups map[string]train.Group, steps int) (*tensors.Tensor, error) {
		student, ctrl := model.SplitControl(model.Params(groups[distill.StudentGroup]))
		in := distill.ControlInput{Weights: ctrl, Layers: cc.NumLayers, Scale: cc.ConditioningScale, Cond: cond}
		return distill.SampleStudentControl(backend, mcfg, student, in, prompts.Text, prompts.Mask, noise,
			distill.StudentSampling{Steps: steps, Guidance: w, Seed: 0})
	}
	return samplingValidator(kind, prompts, decoder, "_controlnet", true, teacher, student), nil
}

// exportControlGroup exports a checkpoint group of a ControlNet run (ExportCheckpoint): the
// group "controlnet" as a SanaControlNetModel folder at out, a network holding its ControlNet
// under model.ControlNetPrefix as the network at out and its ControlNet at out + "_controlnet".
// It reports false for other groups, which export as they are.
func exportControlGroup(configYAML []byte, mcfg model.Config, group string, params model.Params, out, dtype string) (bool, error) {
	net, ctrl := model.SplitControl(params)
	if group != distill.ControlNetGroup && len(ctrl) == 0 {
		return false, nil
	}
	var doc struct {
		Control struct {
			NumLayers int `yaml:"num_layers"`
		} `yaml:"control"`
	}
	if err := yaml.Unmarshal(configYAML, &doc); err != nil || doc.Control.NumLayers < 1 {
		return true, fmt.Errorf("the checkpoint's config has no control.num_layers for its ControlNet (%v)", err)
	}
	n, opts := doc.Control.NumLayers, checkpoints.ExportOptions{DType: dtype}
	if group == distill.ControlNetGroup {
		return true, checkpoints.ExportControlNet(out, mcfg, n, params, opts)
	}
	if err := checkpoints.ExportDiffusers(out, mcfg, net, opts); err != nil {
		return true, err
	}
	return true, checkpoints.ExportControlNet(out+"_controlnet", mcfg, n, ctrl, opts)
}
