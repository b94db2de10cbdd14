package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestControlDemoSmoke runs the shipped control demo config (configs/demo_control.yaml with the
// teacher in assets/teacher_shapes) at a tiny size: the ControlNet trains, both students
// distil, every row is sampled and scored for placement, and the report with its side-by-side
// overview is written.
func TestControlDemoSmoke(t *testing.T) {
	cfg, rep := runSmoke(t, RunControl, "demo_control.yaml", "demo.teacher_steps=[2]", "demo.controlnet_steps=2")
	if len(rep.Rows) != 2+2*2 {
		t.Fatalf("%d rows, want 6", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		p := r.Placement
		if r.Acc.Images != 4 || p.Objects < 4 || p.Placed < 0 || p.Placed > 1 || p.Shaped > p.Placed || r.FD < 0 {
			t.Fatalf("row %+v", r)
		}
		if _, err := os.Stat(filepath.Join(cfg.Demo.Dir, r.Grid)); err != nil {
			t.Fatal(err)
		}
	}
	if rep.Find(KindStudentControl, 1) == nil || rep.Find(KindStudent, 1) == nil || rep.Find(KindTeacherControl, 2) == nil {
		t.Fatal("missing rows")
	}
	md, err := os.ReadFile(filepath.Join(cfg.Demo.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| **Sprint-ControlNet student, 1 step** |", "| unconditioned student, 1 step |",
		"| teacher + ControlNet, 2 steps |", "**Placement at one step:**", sideBySide, "grids/control_maps.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, f := range []string{sideBySide, "controlnet/export/controlnet/config.json", "student_controlnet/export/student_controlnet/config.json", "student/export/student/config.json"} {
		if _, err := os.Stat(filepath.Join(cfg.Demo.Dir, f)); err != nil {
			t.Error(err)
		}
	}
}
