package job

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testbackend"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

func backend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// tinyConfig is a teacher-training config on a small shapes dataset with the tiny model preset.
func tinyConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Load("", []string{
		"model.preset=tiny",
		"data.paths=[" + filepath.Join(dir, "shapes") + "]",
		"data.batch_size=4",
		"data.shapes.num_samples=48",
		"data.shapes.image_size=16",
		"data.shapes.max_objects=2",
		"train.batch_size=4",
		"train.max_steps=3",
		"train.optimizer.type=adamw",
		"train.optimizer.lr=1e-3",
		"train.optimizer.betas=[0.9,0.99]",
		"train.optimizer.eps=[1e-8]",
		"train.auto_lr=none",
		"train.lr_schedule.warmup_steps=0",
		"train.checkpoint_every=2",
		"train.validate_every=2",
		"train.log_every=1",
		"train.run_dir=" + filepath.Join(dir, "runs"),
		"distill.head_block_ids=[0,1]",
		"distill.cfg_scales=[2.0]",
		"distill.tangent_warmup_steps=2",
		"log.tensorboard=false",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := data.MakeShapes(cfg.Data.Shapes, cfg.Data.Paths[0]); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTeacherThenDistill trains a tiny teacher for a few steps, exports it, distils a student
// from the export with sCM+LADD, resumes the distillation, and checks the run folders.
func TestTeacherThenDistill(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	var console bytes.Buffer

	tj, res, _ := complete(t, cfg, Teacher, Options{}, &console, "teacher run")
	if res.GlobalStep != 3 {
		t.Fatalf("teacher run: %+v\n%s", res, console.String())
	}
	export := tj.ExportDir()
	if d := tj.EMAExportDir(); d != "" {
		t.Errorf("a run without EMA has an EMA export %q", d)
	}
	for _, f := range []string{checkpoints.DiffusersWeightsFile, checkpoints.DiffusersConfigFile} {
		if _, err := os.Stat(filepath.Join(export, f)); err != nil {
			t.Fatalf("teacher export: %v", err)
		}
	}
	for _, f := range []string{"config.yaml", "metrics.jsonl", "train.log"} {
		if _, err := os.Stat(filepath.Join(tj.Run.Dir(), f)); err != nil {
			t.Fatalf("run folder: %v", err)
		}
	}
	if grids, _ := filepath.Glob(filepath.Join(tj.Run.Dir(), "samples", "*teacher_20step.png")); len(grids) == 0 {
		t.Fatalf("no teacher validation grid in %s/samples", tj.Run.Dir())
	}

	// Distil from the exported teacher; 2 steps, then resume to 4.
	dcfg := *cfg
	dcfg.Distill.TeacherWeights = export
	dcfg.Train.Name = "distill"
	dcfg.Train.MaxSteps = 2
	complete(t, &dcfg, Distill, Options{}, &console, "distill run")
	teacher, err := checkpoints.LoadDiffusers(export, cfg.Model, model.Teacher)
	if err != nil {
		t.Fatal(err)
	}
	dcfg.Train.MaxSteps = 4
	dj, res, groups := complete(t, &dcfg, Distill, Options{Resume: "latest", AllowConfigChange: true}, &console, "resumed distill")
	if res.GlobalStep != 4 {
		t.Fatalf("resumed distill: %+v\n%s", res, console.String())
	}
	// The teacher is frozen: bitwise what was loaded.
	for name, want := range teacher {
		if !tensorsEqual(groups[distill.TeacherGroup][name], want) {
			t.Fatalf("teacher tensor %s changed during distillation", name)
		}
	}
	// The student moved away from its teacher initialisation.
	moved := false
	for name, s := range groups[distill.StudentGroup] {
		if tt, ok := teacher[name]; ok && !tensorsEqual(s, tt) {
			moved = true
		}
	}
	if !moved {
		t.Fatal("no student weight changed in 4 distillation steps")
	}
	if _, err := os.Stat(filepath.Join(dj.ExportDir(), checkpoints.DiffusersConfigFile)); err != nil {
		t.Fatalf("student export: %v", err)
	}
	if !strings.Contains(console.String(), "[d]") || !strings.Contains(console.String(), "g loss") {
		t.Fatalf("progress lines lack the phases:\n%s", console.String())
	}
}

// complete makes a job of cfg on the test backend with console as its console, executes it and
// closes it; it fails the test, naming the run what, unless the run completed. It returns the
// job (for its folders), its result and its groups.
func complete(t *testing.T, cfg *config.Config, kind Kind, opts Options, console *bytes.Buffer, what string) (*Job, train.Result, map[string]train.Group) {
	t.Helper()
	opts.Console = console
	j, err := New(context.Background(), backend(t), cfg, kind, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.Execute(context.Background())
	groups := j.Run.Groups()
	j.Close()
	if err != nil || res.Outcome != train.OutcomeCompleted {
		t.Fatalf("%s: %+v %v\n%s", what, res, err, console.String())
	}
	return j, res, groups
}

func tensorsEqual(a, b *tensors.Tensor) bool {
	if a == nil || b == nil || !a.Shape().Equal(b.Shape()) {
		return false
	}
	return bytes.Equal(rawBytes(a), rawBytes(b))
}

func rawBytes(t *tensors.Tensor) []byte {
	var out []byte
	_ = t.ConstBytes(func(b []byte) { out = append([]byte(nil), b...) })
	return out
}

// TestSourceResume: a source restored to a saved position yields the batches that followed it.
func TestSourceResume(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	r, err := cfg.Data.Open(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	null, err := NullEmbedding(r)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := newSource(ctx, r, null)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 5 { // 12 batches an epoch: restore mid-epoch and read across the boundary
		if _, err := a.Next(); err != nil {
			t.Fatal(err)
		}
	}
	pos := a.Position()
	var want [][]byte
	for range 10 {
		bt, err := a.Next()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rawBytes(bt[distill.BatchLatent]))
		if bt[distill.NullEmbedding] == nil {
			t.Fatal("batch lacks the null embedding")
		}
	}
	b, err := newSource(ctx, r, null)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Restore(pos); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		bt, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rawBytes(bt[distill.BatchLatent]), want[i]) {
			t.Fatalf("batch %d after restore differs", i)
		}
	}
	if err := b.Restore([]byte(`{"epoch":`)); err == nil {
		t.Fatal("a corrupt position was accepted")
	}
}

// TestFineTuneAddsQKNorm: a teacher saved without QK-norm loads into a QK-norm config for
// fine-tuning, with the norms at weight 1 and every other tensor as saved.
func TestFineTuneAddsQKNorm(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	plain := cfg.Model
	plain.QKNorm, plain.CrossNorm = false, false
	p, err := model.InitParams(plain, model.Teacher, 3)
	if err != nil {
		t.Fatal(err)
	}
	exp := filepath.Join(dir, "plain")
	if err := checkpoints.ExportDiffusers(exp, plain, p, checkpoints.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	c := *cfg
	c.Distill.TeacherWeights = exp
	got, err := LoadTeacher(&c, cfg.Model, true)
	if err != nil {
		t.Fatal(err)
	}
	norms := 0
	for name, v := range got {
		if old, ok := p[name]; ok {
			if !tensorsEqual(old, v) {
				t.Fatalf("%s changed on load", name)
			}
			continue
		}
		norms++
		for _, x := range tensors.MustCopyFlatData[float32](v) {
			if x != 1 {
				t.Fatalf("new norm %s = %v, want 1", name, x)
			}
		}
	}
	if norms == 0 || len(got) != len(model.ParamSpecs(mustResolve(t, cfg.Model), model.Teacher)) {
		t.Fatalf("added %d norms; %d tensors", norms, len(got))
	}
	// A distillation never silently adds weights.
	if _, err := LoadTeacher(&c, cfg.Model, false); err == nil {
		t.Fatal("distillation accepted a teacher without QK-norm weights")
	}
}

func mustResolve(t *testing.T, c model.Config) model.Config {
	r, err := c.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDistillResumeIsExact: on the real stack (shards, reader position, RNG, G/D phases, CAME
// and AdamW states), 3 steps + resume + 3 steps give bitwise the weights of 6 uninterrupted steps.
func TestDistillResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	b := backend(t)
	ctx := context.Background()
	teacher, err := model.InitParams(mustResolve(t, cfg.Model), model.Teacher, 5)
	if err != nil {
		t.Fatal(err)
	}
	exp := filepath.Join(dir, "teacher")
	if err := checkpoints.ExportDiffusers(exp, cfg.Model, teacher, checkpoints.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	base := *cfg
	base.Distill.TeacherWeights = exp
	base.Train.ValidateEvery = 0
	base.Train.Optimizer.Type = "came"
	base.Train.Optimizer.Betas = []float64{0.9, 0.999, 0.9999}
	base.Train.Optimizer.Eps = []float64{1e-30, 1e-16}
	base.Train.Optimizer.ClipThreshold = 1
	run := func(name string, steps int64, resume string) map[string]train.Group {
		c := base
		c.Train.Name, c.Train.MaxSteps = name, steps
		j, err := New(ctx, b, &c, Distill, Options{Console: io.Discard, Resume: resume, AllowConfigChange: resume != ""})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if resume != "" && j.Run.GlobalStep() != 3 {
			t.Fatalf("resumed at global step %d, want 3", j.Run.GlobalStep())
		}
		if _, err := j.Run.Execute(ctx); err != nil {
			t.Fatal(err)
		}
		return j.Run.Groups()
	}
	full := run("full", 6, "")
	cut := run("cut", 3, "")
	resumed := run("cut", 6, "latest")
	moved := false
	for name, w := range cut[distill.StudentGroup] {
		moved = moved || !tensorsEqual(w, full[distill.StudentGroup][name])
	}
	if !moved {
		t.Fatal("steps 4-6 changed no student weight: the comparison would be vacuous")
	}
	for _, g := range []string{distill.StudentGroup, distill.HeadsGroup, distill.HeadsStateGroup, "opt_g", "opt_d"} {
		if len(full[g]) == 0 {
			t.Fatalf("group %s missing", g)
		}
		for name, want := range full[g] {
			if !tensorsEqual(resumed[g][name], want) {
				t.Fatalf("%s/%s differs after resume", g, name)
			}
		}
	}
}

func TestCheckpointModelConfig(t *testing.T) {
	// Keys of other sections, even ones this sprint does not know, do not matter.
	m, err := CheckpointModelConfig([]byte("model:\n  preset: tiny\n  qk_norm: false\ntrain:\n  precision: float32\n"))
	if err != nil || m.Preset != "tiny" || m.QKNorm {
		t.Fatalf("model section: %+v, %v", m, err)
	}
	// The model section itself is strict.
	_, err = CheckpointModelConfig([]byte("model:\n  presett: tiny\n"))
	if err == nil || !strings.Contains(err.Error(), "model.presett") || !strings.Contains(err.Error(), "did you mean model.preset") {
		t.Fatalf("bad model key: %v", err)
	}
}

// TestTeacherExportsEMA: a completed teacher run with train.ema on the teacher exports the EMA
// beside the teacher, with the values of the run's ema_teacher group.
func TestTeacherExportsEMA(t *testing.T) {
	cfg := tinyConfig(t, t.TempDir())
	cfg.Train.EMA.Enabled, cfg.Train.EMA.Decay, cfg.Train.EMA.Group = true, 0.5, "teacher"
	var console bytes.Buffer
	tj, _, groups := complete(t, cfg, Teacher, Options{}, &console, "teacher run with EMA")
	dir := tj.EMAExportDir()
	if dir != filepath.Join(filepath.Dir(tj.ExportDir()), "ema_teacher") {
		t.Fatalf("EMAExportDir = %q", dir)
	}
	ema, err := checkpoints.LoadDiffusers(dir, cfg.Model, model.Teacher)
	if err != nil {
		t.Fatalf("EMA export: %v", err)
	}
	raw, err := checkpoints.LoadDiffusers(tj.ExportDir(), cfg.Model, model.Teacher)
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for name, want := range groups["ema_teacher"] {
		w, g := tensors.MustCopyFlatData[float32](want), tensors.MustCopyFlatData[float32](ema[name])
		r := tensors.MustCopyFlatData[float32](raw[name])
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("%s[%d]: exported EMA %g, run's %g", name, i, g[i], w[i])
			}
			differs = differs || r[i] != w[i]
		}
	}
	if !differs {
		t.Error("the EMA export equals the teacher export")
	}
}
