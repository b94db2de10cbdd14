package demo

import (
	"fmt"
	"time"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/job"
)

// sideBySide is the overview of the control demo: the control maps, then the teacher with its
// ControlNet, the one-step Sprint-ControlNet student and the one-step unconditioned student.
const sideBySide = "control_overview.png"

// writeControlReport writes the grids, then <demo.dir>/report.md with the time since start as
// the demo's total.
func writeControlReport(cfg *config.Config, rep *ControlReport, start time.Time) error {
	dc := cfg.Demo
	if err := writeControlGrids(dc, rep); err != nil {
		return err
	}
	rep.Total = time.Since(start)
	var md markdown
	p := md.printf
	p("# sprint control demo: a one-step Sprint-ControlNet on the shapes data\n\n")
	p("Teacher: `%s` (model preset `%s`). Control: the outline map of the requested shapes (`data.shapes.control: outline`, ", cfg.Distill.TeacherWeights, cfg.Model.Preset)
	p("every object's boundary pixels in white, encoded like the images), read by a SANA ControlNet of %d copied blocks ", cfg.Control.NumLayers)
	p("(diffusers' SanaControlNetModel layout, conditioning scale %.2g).\n\n", cfg.Control.ConditioningScale)
	p("1. The teacher's ControlNet: %d flow-matching steps with the teacher frozen (%s).\n", dc.ControlNetSteps, rep.Trained["controlnet"].Round(time.Second))
	p("2. The Sprint-ControlNet student (the student and its ControlNet, from the teacher and its ControlNet): %d global steps of sCM + LADD (%s).\n",
		cfg.Train.MaxSteps, rep.Trained["student+controlnet"].Round(time.Second))
	p("3. The unconditioned student, same recipe without ControlNet: %d global steps (%s).\n\n", cfg.Train.MaxSteps, rep.Trained["student"].Round(time.Second))
	p("Every row uses the same %d held-out prompts, each with the control map of its own scene, and the same starting noise; guidance w = %.1f.\n",
		dc.Prompts, job.GuidanceScale(cfg.Distill))
	p("Total demo time: %s.\n\n", rep.Total.Round(time.Second))
	p("## Placement\n\n")
	p("- **placed**: fraction of the scenes' objects drawn where the control map puts them: the exact shapes detector (eval/shapes) finds an object, of any shape and colour, whose box overlaps the object's with IoU >= 0.5.\n")
	p("- **placed with shape**: the same with the object's shape; **all placed**: images with every object placed.\n")
	p("- **exact**: GenEval-style exact match with the prompt (objects, colours, counts, relation); **FD**: Fréchet distance to %d real images in the shapes feature space.\n\n", dc.ReferenceImages)
	p("| row | placed | placed with shape | all placed | exact | FD ↓ | ms/image |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Rows {
		name := r.Name
		if r.Kind == KindStudentControl && r.Steps == 1 {
			name = "**" + name + "**"
		}
		p("| %s | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.3f | %.1f |\n", name, 100*r.Placement.Placed, 100*r.Placement.Shaped,
			100*r.Placement.AllPlaced, 100*r.Acc.Exact, r.FD, r.MsPer)
	}
	p("\n%s\n\n", controlVerdict(rep))
	p("## Side by side\n\nThe first %d prompts: the control map, the teacher with its ControlNet, the one-step Sprint-ControlNet student and the one-step unconditioned student, from the same noise.\n\n", len(rep.Controls))
	md.prompts(rep.Prompts, len(rep.Controls))
	p("\n![side by side](%s)\n\nEvery row: ![control maps](grids/control_maps.png)\n\n", rep.Overview)
	for _, r := range rep.Rows {
		md.grid(r.Name, r.Grid)
	}
	return md.save(dc.Dir)
}

// controlVerdict compares the one-step students' placement.
func controlVerdict(rep *ControlReport) string {
	c, u := rep.Find(KindStudentControl, 1), rep.Find(KindStudent, 1)
	if c == nil || u == nil {
		return ""
	}
	s := fmt.Sprintf("**Placement at one step:** the Sprint-ControlNet student draws %.1f%% of the objects where the control puts them, the unconditioned student %.1f%%",
		100*c.Placement.Placed, 100*u.Placement.Placed)
	if t := rep.Find(KindTeacherControl, maxSteps(rep, KindTeacherControl)); t != nil {
		s += fmt.Sprintf(" (the teacher with its ControlNet at %d steps: %.1f%%)", t.Steps, 100*t.Placement.Placed)
	}
	return s + "."
}

func maxSteps(rep *ControlReport, kind string) int {
	m := 0
	for _, r := range rep.Rows {
		if r.Kind == kind {
			m = max(m, r.Steps)
		}
	}
	return m
}
