package job

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/model"
)

// TestControlNetJobs runs the ControlNet path end to end at a tiny size: a teacher (depth 3) on
// shapes data with outline control latents, its ControlNet trained by train-teacher with the
// teacher frozen (bitwise) and exported as a SanaControlNetModel folder, then a Sprint-ControlNet
// distillation (student and its ControlNet from the teacher's) that exports both, with
// validation grids of the ControlNet samplers. Data without control latents is refused.
func TestControlNetJobs(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir) // plain shapes data: the ControlNet job must refuse it
	cfg.Model.Depth = 3
	cfg.Distill.HeadBlockIDs = []int{0, 2}
	b := backend(t)
	ctx := context.Background()
	var console bytes.Buffer

	tj, _, _ := complete(t, cfg, Teacher, Options{}, &console, "teacher run")
	teacherDir := tj.ExportDir()

	ccfg := *cfg
	ccfg.Distill.TeacherWeights = teacherDir
	ccfg.Control.Enabled, ccfg.Control.NumLayers = true, 2
	ccfg.Train.Name = "controlnet"
	if _, err := New(ctx, b, &ccfg, Teacher, Options{Console: &console}); err == nil || !strings.Contains(err.Error(), "no control latents") {
		t.Fatalf("data without control latents: err = %v", err)
	}
	ccfg.Data.Paths = []string{filepath.Join(dir, "shapes_control")}
	ccfg.Data.Shapes.Control = data.ShapesControlOutline
	if err := data.MakeShapes(ccfg.Data.Shapes, ccfg.Data.Paths[0]); err != nil {
		t.Fatal(err)
	}
	ccfg.Distill.TeacherWeights = teacherDir
	cj, _, groups := complete(t, &ccfg, Teacher, Options{}, &console, "ControlNet run")
	teacher, err := checkpoints.LoadDiffusers(teacherDir, ccfg.Model, model.Teacher)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range teacher {
		if !tensorsEqual(groups[distill.TeacherGroup][name], want) {
			t.Fatalf("teacher tensor %s changed while training its ControlNet", name)
		}
	}
	ctrlDir := cj.ExportDir()
	if filepath.Base(ctrlDir) != ControlNetExport {
		t.Fatalf("ControlNet export dir %s", ctrlDir)
	}
	ctrl, err := checkpoints.LoadControlNet(ctrlDir, ccfg.Model, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !tensorsEqual(ctrl["controlnet_blocks.1.weight"], groups[distill.ControlNetGroup]["controlnet_blocks.1.weight"]) ||
		isZeroTensor(ctrl["controlnet_blocks.1.weight"]) {
		t.Fatal("the exported ControlNet is not the trained one (or its projection never moved from zero)")
	}
	if grids, _ := filepath.Glob(filepath.Join(cj.Run.Dir(), "samples", "*teacher_controlnet_20step.png")); len(grids) == 0 {
		t.Fatalf("no ControlNet validation grid in %s/samples", cj.Run.Dir())
	}

	// Distil the Sprint-ControlNet.
	dcfg := ccfg
	dcfg.Control.TeacherWeights = ctrlDir
	dcfg.Train.Name = "distill_controlnet"
	dcfg.Train.MaxSteps = 2
	dj, _, dgroups := complete(t, &dcfg, Distill, Options{}, &console, "Sprint-ControlNet run")
	export := filepath.Join(dj.Run.Dir(), "export")
	if _, err := checkpoints.LoadDiffusers(filepath.Join(export, distill.StudentGroup), dcfg.Model, model.Student); err != nil {
		t.Fatal(err)
	}
	sctrl, err := checkpoints.LoadControlNet(filepath.Join(export, StudentControlNetExport), dcfg.Model, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tensorsEqual(sctrl["controlnet_blocks.0.weight"], ctrl["controlnet_blocks.0.weight"]) {
		t.Error("the student's ControlNet did not move in the distillation's G step")
	}
	if !tensorsEqual(dgroups[distill.TeacherGroup][model.ControlNetPrefix+"controlnet_blocks.0.weight"], ctrl["controlnet_blocks.0.weight"]) {
		t.Error("the teacher's ControlNet changed during distillation")
	}
	if grids, _ := filepath.Glob(filepath.Join(dj.Run.Dir(), "samples", "*student_controlnet_1step.png")); len(grids) == 0 {
		t.Fatalf("no Sprint-ControlNet validation grid in %s/samples", dj.Run.Dir())
	}
	// sprint checkpoint export of the control runs' groups.
	out := filepath.Join(dir, "exported")
	if _, err := ExportCheckpoint(dj.Run.Dir(), distill.StudentGroup, out, "", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoints.LoadControlNet(out+"_controlnet", dcfg.Model, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoints.LoadDiffusers(out, dcfg.Model, model.Student); err != nil {
		t.Fatal(err)
	}
	if _, err := ExportCheckpoint(cj.Run.Dir(), distill.ControlNetGroup, filepath.Join(dir, "cn"), "", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoints.LoadControlNet(filepath.Join(dir, "cn"), dcfg.Model, 2); err != nil {
		t.Fatal(err)
	}

	dcfg.Control.TeacherWeights = ""
	if _, err := New(ctx, b, &dcfg, Distill, Options{Console: &console, Dir: filepath.Join(dir, "x")}); err == nil || !strings.Contains(err.Error(), "control.teacher_weights") {
		t.Errorf("distill without the teacher's ControlNet: err = %v", err)
	}
}

func isZeroTensor(tt interface{ ConstBytes(func([]byte)) error }) bool {
	zero := true
	_ = tt.ConstBytes(func(b []byte) {
		for _, v := range b {
			zero = zero && v == 0
		}
	})
	return zero
}
