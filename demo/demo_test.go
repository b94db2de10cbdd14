package demo

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

func TestVariantConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Train.MaxSteps = 481 // 1:1 phases: 241 G steps and 240 D steps
	// Every variant updates the student 241 times; sCM only has no D phase, so 241 steps.
	for _, c := range []struct {
		v        string
		scm, adv float64
		steps    int64
	}{{"scm_ladd", 1, 0.5, 481}, {"scm", 1, 0, 241}, {"ladd", 0, 0.5, 481}} {
		vc, err := variantConfig(&cfg, c.v)
		if err != nil {
			t.Fatal(err)
		}
		if vc.Distill.ScmLambda != c.scm || vc.Distill.AdvLambda != c.adv || vc.Train.Name != cfg.Train.Name+"_"+c.v {
			t.Fatalf("%s: %+v", c.v, vc.Distill)
		}
		if vc.Train.MaxSteps != c.steps {
			t.Errorf("%s: train.max_steps %d, want %d", c.v, vc.Train.MaxSteps, c.steps)
		}
	}
	if _, err := variantConfig(&cfg, "gan"); err == nil {
		t.Fatal("unknown variant accepted")
	}
	want := config.Default()
	want.Train.MaxSteps = 481
	if !reflect.DeepEqual(cfg, want) {
		t.Fatal("variantConfig modified its input")
	}
}

// TestDemoSmoke runs the demo's shipped ablation config (configs/demo_ablation.yaml, which is
// configs/demo.yaml with the three variants and several seeds, and the teacher in
// assets/teacher_shapes) at a reduced size, with two seeds: every variant distils for a few steps
// per seed, every row is sampled and scored, and the report and grids are written.
func TestDemoSmoke(t *testing.T) {
	cfg, rep := runSmoke(t, Run, "demo_ablation.yaml", "demo.teacher_steps=[1,4]", "demo.seeds=[3,5]")
	if len(rep.Rows) != 2+3*2*2 {
		t.Fatalf("%d rows, want 14 (2 teacher rows, 3 variants x 2 seeds x 2 step counts)", len(rep.Rows))
	}
	if len(rep.Trained) != 6 || rep.Trained["sCM only, seed 5"] == 0 {
		t.Fatalf("trained %v, want the 6 runs by title", rep.Trained)
	}
	for _, r := range rep.Rows {
		if r.Acc.Images != 4 || r.FD < 0 || r.MSE < 0 {
			t.Fatalf("row %+v", r)
		}
		if _, err := os.Stat(filepath.Join(cfg.Demo.Dir, r.Grid)); err != nil {
			t.Fatal(err)
		}
	}
	// The teacher's most-steps row is the MSE reference.
	if rep.Rows[1].MSE != 0 {
		t.Fatalf("teacher reference MSE = %v", rep.Rows[1].MSE)
	}
	md, err := os.ReadFile(filepath.Join(cfg.Demo.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| teacher, 4 steps |", "student sCM only, seed 5, 1 step", "LADD only", "| variant | seed 3 | seed 5 | mean | mean FD |", "**Over 2 seeds**", "overview.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if rep.Winner == "" {
		t.Fatal("no winner")
	}
}

// TestDemoStudentsFromElsewhere: a student listed in demo.students is sampled and scored like a
// distilled variant: the export of a demo's own student, given back through demo.students to a
// demo that distils nothing, gets the same numbers on the same prompts and noise, and the
// report names it without taking it for the teacher or a variant.
func TestDemoStudentsFromElsewhere(t *testing.T) {
	cfg, first := runSmoke(t, Run, "demo.yaml", "demo.teacher_steps=[4]")
	export := filepath.Join(cfg.Demo.Dir, "scm_ladd", "export", "student")
	cfg2, second := runSmoke(t, Run, "demo.yaml", "demo.teacher_steps=[4]", "demo.variants=[]", "demo.students=["+export+"]")
	if len(first.Rows) != 3 || len(second.Rows) != 3 {
		t.Fatalf("%d and %d rows, want 3 each (teacher at 4 steps, student at 1 and 2)", len(first.Rows), len(second.Rows))
	}
	for i := 1; i < 3; i++ {
		a, b := first.Rows[i], second.Rows[i]
		if filepath.Dir(b.Grid) != "grids" {
			t.Errorf("grid %s is not a file of grids/", b.Grid)
		}
		if b.Weights != export || b.Variant != "" || b.Steps != a.Steps {
			t.Fatalf("row %d: %+v", i, b)
		}
		if a.FD != b.FD || a.MSE != b.MSE || a.Acc != b.Acc {
			t.Errorf("%d steps: distilled FD %v MSE %v acc %+v; from demo.students FD %v MSE %v acc %+v", a.Steps, a.FD, a.MSE, a.Acc, b.FD, b.MSE, b.Acc)
		}
	}
	if second.Winner != "" {
		t.Errorf("winner %q among students not distilled here", second.Winner)
	}
	md, err := os.ReadFile(filepath.Join(cfg2.Demo.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| student " + export + ", 1 step |", "not distilled here (demo.students): " + export, "No student was distilled here"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestDemoConfigOneVariant: `make demo` distils sCM+LADD only; the ablations are
// configs/demo_ablation.yaml, the same config otherwise.
func TestDemoConfigOneVariant(t *testing.T) {
	main, err := config.Load(filepath.Join("..", "configs", "demo.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	abl, err := config.Load(filepath.Join("..", "configs", "demo_ablation.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(main.Demo.Variants, []string{"scm_ladd"}) {
		t.Errorf("demo.yaml variants %v, want [scm_ladd]", main.Demo.Variants)
	}
	if !reflect.DeepEqual(abl.Demo.Variants, []string{"scm_ladd", "scm", "ladd"}) {
		t.Errorf("demo_ablation.yaml variants %v, want [scm_ladd scm ladd]", abl.Demo.Variants)
	}
	if len(main.Demo.Seeds) != 0 || len(abl.Demo.Seeds) < 2 {
		t.Errorf("demo seeds %v, ablation seeds %v: want none for make demo, several for the ablation", main.Demo.Seeds, abl.Demo.Seeds)
	}
	abl.Demo.Variants, abl.Demo.Dir, abl.Demo.Seeds = main.Demo.Variants, main.Demo.Dir, main.Demo.Seeds
	if !reflect.DeepEqual(main, abl) {
		t.Errorf("demo_ablation.yaml differs from demo.yaml beyond demo.variants, demo.seeds and demo.dir")
	}
}

func backend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// runSmoke runs a demo (Run or RunControl) on a shipped demo config (configs/<name>, with the
// teacher in assets/teacher_shapes) at the smoke tests' tiny size, in a temporary folder, with
// the extra overrides after the common ones; it fails the test, showing the console, if the
// demo fails, and returns the config and the report.
func runSmoke[R any](t *testing.T, run func(context.Context, compute.Backend, *config.Config, Options) (R, error), name string, extra ...string) (*config.Config, R) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load(filepath.Join("..", "configs", name), append([]string{
		"data.paths=[" + filepath.Join(dir, "shapes") + "]",
		"data.shapes.num_samples=64",
		"distill.teacher_weights=" + filepath.Join("..", "assets", "teacher_shapes"),
		"train.max_steps=2",
		"train.validate_every=0",
		"train.run_dir=" + filepath.Join(dir, "runs"),
		"log.tensorboard=false",
		"demo.dir=" + filepath.Join(dir, "demo"),
		"demo.prompts=4",
		"demo.grid_prompts=4",
		"demo.reference_images=8",
		"demo.student_steps=[1,2]",
	}, extra...))
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	rep, err := run(context.Background(), backend(t), cfg, Options{Console: &console})
	if err != nil {
		t.Fatalf("%v\n%s", err, console.String())
	}
	return cfg, rep
}

// TestVerdictOneVariant: with a single distilled variant the report states the student against
// the teacher at 1, 2 and 20 steps rather than an ablation.
func TestVerdictOneVariant(t *testing.T) {
	rep := &Report{
		Trained: map[string]time.Duration{"scm_ladd": time.Minute},
		Winner:  "scm_ladd",
		Rows: []Row{
			{Name: "teacher, 1 step", Steps: 1, FD: 0.9},
			{Name: "teacher, 2 steps", Steps: 2, FD: 0.3},
			{Name: "teacher, 20 steps", Steps: 20, FD: 0.2},
			{Name: "student sCM+LADD, 1 step", Variant: "scm_ladd", Steps: 1, FD: 0.25},
		},
	}
	rep.Rows[3].Acc.Exact = 0.5
	got := verdict(rep)
	for _, want := range []string{"**Student:** the one-step sCM+LADD student: exact accuracy 50.0%, FD 0.250", "make demo-ablation",
		"teacher at 2 steps: exact 0.0%, FD 0.300", "teacher at 20 steps"} {
		if !strings.Contains(got, want) {
			t.Errorf("verdict %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "Ablation") {
		t.Errorf("verdict %q speaks of an ablation with one variant", got)
	}
}

// TestDistillationSteps: the report counts student updates for the variants the demo runs; the
// note about sCM only having no D phase appears only when several variants are compared.
func TestDistillationSteps(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "configs", "demo.yaml"), []string{"train.max_steps=480"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		variants []string
		want     string
	}{
		{[]string{"scm_ladd"}, "240 student updates (480 global steps, G and D in turn)"},
		{[]string{"ladd"}, "240 student updates (480 global steps, G and D in turn)"},
		{[]string{"scm"}, "240 student updates"},
		{[]string{"scm_ladd", "scm", "ladd"}, "240 student updates per variant (480 global steps of G and D for sCM+LADD and LADD only; sCM only has no D phase)"},
	} {
		cfg.Demo.Variants = c.variants
		if got := distillationSteps(cfg); got != c.want {
			t.Errorf("variants %v: %q, want %q", c.variants, got, c.want)
		}
	}
}

// TestSlug: the grid file names of the shipped reports stay as they are, and a demo.students
// path becomes one file name, not folders.
func TestSlug(t *testing.T) {
	for name, want := range map[string]string{
		"student sCM+LADD, 1 step":                 "student_scm_ladd_1_step",
		"teacher, 20 steps":                        "teacher_20_steps",
		"teacher + ControlNet, 20 steps":           "teacher___controlnet_20_steps",
		"student runs/long/export/student, 1 step": "student_runs_long_export_student_1_step",
		"student ../x:y\\z, 2 steps":               "student_.._x_y_z_2_steps",
	} {
		if got := slug(name); got != want {
			t.Errorf("slug(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestWinnerOverSeeds: with several seeds the winner is the variant with the best mean one-step
// exact accuracy, not the one with the single best run, and the report lists every seed.
func TestWinnerOverSeeds(t *testing.T) {
	row := func(v string, seed int64, steps int, exact, fd float64) Row {
		r := Row{Name: fmt.Sprintf("student %s, seed %d, %d steps", variantTitle(v), seed, steps), Variant: v, Seed: seed, Steps: steps, FD: fd}
		r.Acc.Exact = exact
		return r
	}
	rep := &Report{
		Trained: map[string]time.Duration{"sCM+LADD, seed 1": time.Minute, "sCM+LADD, seed 2": time.Minute, "sCM only, seed 1": time.Minute, "sCM only, seed 2": time.Minute},
		Rows: []Row{
			{Name: "teacher, 1 step", Steps: 1, FD: 0.9},
			{Name: "teacher, 20 steps", Steps: 20, FD: 0.2},
			// sCM+LADD: 0.20 and 0.30, mean 0.25; sCM only: 0.40 (the best single run) and 0.05, mean 0.225.
			row("scm_ladd", 1, 1, 0.20, 0.30), row("scm_ladd", 1, 2, 0.90, 0.1),
			row("scm_ladd", 2, 1, 0.30, 0.20), row("scm", 1, 1, 0.40, 0.10), row("scm", 2, 1, 0.05, 0.50),
		},
	}
	stats := oneStepStats(rep.Rows)
	if len(stats) != 2 || stats[0].Variant != "scm_ladd" || math.Abs(stats[0].MeanExact-0.25) > 1e-12 ||
		math.Abs(stats[0].MeanFD-0.25) > 1e-12 || math.Abs(stats[1].MeanExact-0.225) > 1e-12 || math.Abs(stats[1].MeanFD-0.30) > 1e-12 {
		t.Fatalf("stats %+v", stats)
	}
	if got := pickWinner(rep.Rows); got != "scm_ladd" {
		t.Fatalf("winner %q, want scm_ladd (best mean; sCM only has the best single run)", got)
	}
	rep.Winner = "scm_ladd"
	var md markdown
	seedTable(&md, rep)
	for _, want := range []string{"| variant | seed 1 | seed 2 | mean | mean FD |", "| sCM+LADD | 20.0% | 30.0% | 25.0% | 0.250 |", "| sCM only | 40.0% | 5.0% | 22.5% | 0.300 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("seed table %q lacks %q", md.String(), want)
		}
	}
	v := verdict(rep)
	for _, want := range []string{"**Over 2 seeds**", "sCM+LADD 25.0% / 0.250; sCM only 22.5% / 0.300", "the best mean is sCM+LADD's", "teacher at 20 steps"} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict %q lacks %q", v, want)
		}
	}
	// One seed: no seed table, and the single run decides as before.
	one := []Row{rep.Rows[0], rep.Rows[2], rep.Rows[5]}
	if got := pickWinner(one); got != "scm" {
		t.Errorf("one seed: winner %q, want scm", got)
	}
	md.Reset()
	seedTable(&md, &Report{Rows: one})
	if md.Len() != 0 {
		t.Errorf("one seed: seed table %q", md.String())
	}
}
