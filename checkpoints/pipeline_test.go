package checkpoints

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sprint-distill/sprint/model"
)

func TestExportPipelineAndConfigWarnings(t *testing.T) {
	cfg := tinyModel(t)
	cfg.DenseTime = true
	dir := filepath.Join(t.TempDir(), "pipe")
	student := randomParams(t, cfg, model.Student, 7)
	if err := ExportPipeline(dir, cfg, student, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	var index map[string]any
	b, err := os.ReadFile(filepath.Join(dir, ModelIndexFile))
	if err != nil || json.Unmarshal(b, &index) != nil {
		t.Fatalf("model_index.json: %v", err)
	}
	if index["_class_name"] != "SanaSprintPipeline" || index["vae"] == nil {
		t.Fatalf("model_index.json: %v", index)
	}
	var sched SCMSchedulerConfig
	b, err = os.ReadFile(filepath.Join(dir, "scheduler", SchedulerConfigFile))
	if err != nil || json.Unmarshal(b, &sched) != nil {
		t.Fatalf("scheduler config: %v", err)
	}
	if sched.ClassName != "SCMScheduler" || sched.PredictionType != "trigflow" || sched.SigmaData != 0.5 ||
		sched.MaxTimesteps != model.DefaultThetaMax || sched.IntermediateTimesteps != model.DefaultThetaMid {
		t.Fatalf("scheduler config %+v", sched)
	}
	tdir := filepath.Join(dir, "transformer")
	if _, err := LoadDiffusers(tdir, cfg, model.Student); err != nil {
		t.Fatalf("transformer does not load back: %v", err)
	}
	if w := ConfigWarnings(tdir); len(w) != 0 {
		t.Fatalf("consistent folder warned: %v", w)
	}
	// A config.json that says guidance_embeds=false beside a student's weights is reported.
	dc, err := ReadDiffusersConfig(tdir)
	if err != nil {
		t.Fatal(err)
	}
	if dc.GuidanceEmbeds != true {
		t.Fatal("exported student config lacks guidance_embeds")
	}
	dc.GuidanceEmbeds = false
	if err := WriteDiffusersConfig(filepath.Join(tdir, DiffusersConfigFile), dc); err != nil {
		t.Fatal(err)
	}
	w := ConfigWarnings(tdir)
	if len(w) != 1 || !strings.Contains(w[0], "guidance_embeds=false but the weights have a guidance embedder") {
		t.Fatalf("warnings %v", w)
	}
	// A model described by a diffusers config computes with diffusers' linear-attention ε.
	m, _, err := dc.ModelConfig()
	if err != nil || m.LinearAttnEps != 1e-15 {
		t.Fatalf("linear attention eps %g (%v)", m.LinearAttnEps, err)
	}
	// A teacher cannot be a SanaSprintPipeline.
	if err := ExportPipeline(filepath.Join(t.TempDir(), "t"), cfg, randomParams(t, cfg, model.Teacher, 1), ExportOptions{}); err == nil ||
		!strings.Contains(err.Error(), "teacher's") {
		t.Fatalf("teacher pipeline: %v", err)
	}
}
