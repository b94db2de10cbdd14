package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

func TestVariantConfig(t *testing.T) {
	cfg := config.Default()
	for _, c := range []struct {
		v        string
		scm, adv float64
	}{{"scm_ladd", 1, 0.5}, {"scm", 1, 0}, {"ladd", 0, 0.5}} {
		vc, err := variantConfig(&cfg, c.v)
		if err != nil {
			t.Fatal(err)
		}
		if vc.Distill.ScmLambda != c.scm || vc.Distill.AdvLambda != c.adv || vc.Train.Name != cfg.Train.Name+"_"+c.v {
			t.Fatalf("%s: %+v", c.v, vc.Distill)
		}
	}
	if _, err := variantConfig(&cfg, "gan"); err == nil {
		t.Fatal("unknown variant accepted")
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Fatal("variantConfig modified its input")
	}
}

// TestDemoSmoke runs the demo's shipped configs (configs/demo.yaml with the teacher in
// assets/teacher_shapes) at a reduced size: every variant distils for a few steps, every row
// is sampled and scored, and the report and grids are written.
func TestDemoSmoke(t *testing.T) {
	cfg := smokeConfig(t, "demo.yaml", "demo.teacher_steps=[1,4]")
	var console bytes.Buffer
	rep, err := Run(context.Background(), backend(t), cfg, Options{Console: &console})
	if err != nil {
		t.Fatalf("%v\n%s", err, console.String())
	}
	if len(rep.Rows) != 2+3*2 {
		t.Fatalf("%d rows, want 8", len(rep.Rows))
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
	for _, want := range []string{"| teacher, 4 steps |", "| student sCM only, 1 step |", "LADD only", "**Ablation:**", "overview.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if rep.Winner == "" {
		t.Fatal("no winner")
	}
}

func backend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// smokeConfig loads a shipped demo config (configs/<name>, with the teacher in
// assets/teacher_shapes) at the smoke tests' tiny size, in a temporary folder, with the extra
// overrides after the common ones.
func smokeConfig(t *testing.T, name string, extra ...string) *config.Config {
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
	return cfg
}
