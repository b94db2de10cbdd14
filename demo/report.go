package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/eval/shapes"
	"github.com/sprint-distill/sprint/job"
)

// writeReport writes the grids, then <demo.dir>/report.md: the table, the grids and what the
// ablation shows, with the time since start as the demo's total.
func writeReport(cfg *config.Config, rep *Report, start time.Time) error {
	dc := cfg.Demo
	if err := writeGrids(dc, rep); err != nil {
		return err
	}
	rep.Total = time.Since(start)
	var md markdown
	p := md.printf
	p("# sprint CPU demo: distilling a shapes teacher into a one-step student\n\n")
	p("Teacher: `%s` (model preset `%s`), sampled by Euler steps of its guided ODE; students: sCM sampler.\n", rep.TeacherAt, cfg.Model.Preset)
	p("Every row uses the same %d held-out prompts (not training rows) and the same starting noise; ", dc.Prompts)
	p("guidance w = %.1f (CFG for the teacher, the guidance embedding for the students).\n\n", job.GuidanceScale(cfg.Distill))
	p("Distillation: %s, batch %d, %s lr %.2g (%s schedule).\n", distillationSteps(cfg),
		cfg.Data.BatchSize, cfg.Train.Optimizer.Type, cfg.Train.Optimizer.LR, cfg.Train.LRSchedule.Type)
	if e := cfg.Train.EMA; e.Enabled && e.Group == distill.StudentGroup {
		p("The students are sampled from the EMA of their weights (decay %g per generator step).\n", e.Decay)
	}
	vs := make([]string, 0, len(rep.Trained))
	for v := range rep.Trained {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	for _, v := range vs {
		p("- %s: %s\n", v, rep.Trained[v].Round(time.Second))
	}
	if len(dc.Students) > 0 {
		p("- not distilled here (demo.students): %s\n", strings.Join(dc.Students, ", "))
	}
	p("\nTotal demo time: %s.\n\n", rep.Total.Round(time.Second))
	p("## Metrics\n\n")
	p("- **FD**: Fréchet distance to %d held-out real images in a fixed feature space (pooled colour layout, colour-class fractions, pooled edge strength; lower is better).\n", dc.ReferenceImages)
	p("- **MSE→T%d**: mean squared latent distance to the teacher's %d-step sample from the same noise (how well the ODE is short-cut).\n", maxInt(dc.TeacherSteps), maxInt(dc.TeacherSteps))
	p("- **object / colour / count / position / exact**: compositional accuracy by an exact detector of the rendered shapes, scored like GenEval (position over the %d%% of prompts that state a relation).\n\n",
		percentWithPosition(rep))
	p("| row | FD ↓ | MSE→T ↓ | object | colour | count | position | exact | ms/image |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Rows {
		name := r.Name
		if r.Variant != "" && r.Variant == rep.Winner {
			name = "**" + name + "**"
		}
		p("| %s | %.3f | %.4f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f |\n", name, r.FD, r.MSE,
			100*r.Acc.Object, 100*r.Acc.Color, 100*r.Acc.Count, 100*r.Acc.Position, 100*r.Acc.Exact, r.MsPer)
	}
	seedTable(&md, rep)
	p("\n%s\n\n", verdict(rep))
	p("## Samples\n\nThe first %d prompts, every row from the same noise:\n\n", dc.GridPrompts)
	md.prompts(rep.Prompts, dc.GridPrompts)
	p("\n![overview](%s)\n\n", rep.Overview)
	for _, r := range rep.Rows {
		md.grid(r.Name, r.Grid)
	}
	return md.save(dc.Dir)
}

// markdown is a report.md being written.
type markdown struct{ strings.Builder }

// printf appends formatted text.
func (m *markdown) printf(format string, args ...any) { fmt.Fprintf(&m.Builder, format, args...) }

// prompts lists the first n prompts, numbered from 1.
func (m *markdown) prompts(prompts []string, n int) {
	for i := 0; i < n && i < len(prompts); i++ {
		m.printf("%d. %s\n", i+1, prompts[i])
	}
}

// grid shows a row's grid under the row's name.
func (m *markdown) grid(name, path string) { m.printf("**%s**\n\n![%s](%s)\n\n", name, name, path) }

// save writes the report to dir/report.md.
func (m *markdown) save(dir string) error {
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(m.String()), 0o644)
}

// seedTable adds, when a variant was distilled with several seeds, its one-step exact accuracy
// per seed and the means the winner is picked by.
func seedTable(md *markdown, rep *Report) {
	stats := oneStepStats(rep.Rows)
	if len(stats) == 0 || len(stats[0].Seeds) < 2 {
		return
	}
	md.printf("\nOne step, by seed (exact accuracy; the winner has the best mean):\n\n| variant |")
	for _, seed := range stats[0].Seeds {
		md.printf(" seed %d |", seed)
	}
	md.printf(" mean | mean FD |\n|---|%s---:|---:|\n", strings.Repeat("---:|", len(stats[0].Seeds)))
	for _, st := range stats {
		md.printf("| %s |", variantTitle(st.Variant))
		for _, e := range st.Exact {
			md.printf(" %.1f%% |", 100*e)
		}
		md.printf(" %.1f%% | %.3f |\n", 100*st.MeanExact, st.MeanFD)
	}
}

// verdict states which variant wins and how the best one-step student compares with the teacher.
func verdict(rep *Report) string {
	find := func(variant string, steps int) *Row {
		for i := range rep.Rows {
			if rep.Rows[i].Variant == variant && rep.Rows[i].Weights == "" && rep.Rows[i].Steps == steps {
				return &rep.Rows[i]
			}
		}
		return nil
	}
	if rep.Winner == "" {
		for _, r := range rep.Rows {
			if r.Weights != "" {
				return "No student was distilled here; the student rows sample the weights of demo.students."
			}
		}
		return "No student was trained."
	}
	w := find(rep.Winner, 1)
	var parts []string
	stats := oneStepStats(rep.Rows)
	switch {
	case len(stats[0].Seeds) > 1:
		var means []string
		for _, st := range stats {
			means = append(means, fmt.Sprintf("%s %.1f%% / %.3f", variantTitle(st.Variant), 100*st.MeanExact, st.MeanFD))
		}
		parts = append(parts, fmt.Sprintf("**Over %d seeds**, the mean one-step student (exact / FD): %s; the best mean is %s's.",
			len(stats[0].Seeds), strings.Join(means, "; "), variantTitle(rep.Winner)))
	case len(rep.Trained) == 1:
		parts = append(parts, fmt.Sprintf("**Student:** the one-step %s student: exact accuracy %.1f%%, FD %.3f (ablations: `make demo-ablation`).",
			variantTitle(rep.Winner), 100*w.Acc.Exact, w.FD))
	default:
		parts = append(parts, fmt.Sprintf("**Ablation:** the one-step %s student wins (exact accuracy %.1f%%, FD %.3f).",
			variantTitle(rep.Winner), 100*w.Acc.Exact, w.FD))
		var others []string
		for _, r := range rep.Rows {
			if r.Variant != "" && r.Variant != rep.Winner && r.Steps == 1 {
				others = append(others, fmt.Sprintf("%s %.1f%% / %.3f", variantTitle(r.Variant), 100*r.Acc.Exact, r.FD))
			}
		}
		if len(others) > 0 {
			parts = append(parts, "Others at one step (exact / FD): "+strings.Join(others, "; ")+".")
		}
	}
	t1, tN := find("", 1), (*Row)(nil)
	for i := range rep.Rows {
		if rep.Rows[i].Variant == "" && rep.Rows[i].Weights == "" && (tN == nil || rep.Rows[i].Steps > tN.Steps) {
			tN = &rep.Rows[i]
		}
	}
	if t1 != nil && tN != nil {
		t2 := ""
		if r := find("", 2); r != nil && tN.Steps != 2 {
			t2 = fmt.Sprintf("teacher at 2 steps: exact %.1f%%, FD %.3f; ", 100*r.Acc.Exact, r.FD)
		}
		parts = append(parts, fmt.Sprintf("Teacher at 1 step: exact %.1f%%, FD %.3f; %steacher at %d steps: exact %.1f%%, FD %.3f.",
			100*t1.Acc.Exact, t1.FD, t2, tN.Steps, 100*tN.Acc.Exact, tN.FD))
	}
	return strings.Join(parts, " ")
}

func maxInt(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func percentWithPosition(rep *Report) int {
	if len(rep.Rows) == 0 || rep.Rows[0].Acc.Images == 0 {
		return 0
	}
	return 100 * rep.Rows[0].Acc.PositionImages / rep.Rows[0].Acc.Images
}

// distillationSteps says how many student updates each variant gets, worded for the variants
// the demo runs: a single variant needs no note about the others.
func distillationSteps(cfg *config.Config) string {
	g, all := cfg.Train.GSteps(), cfg.Train.MaxSteps
	vs := cfg.Demo.Variants
	switch {
	case len(vs) == 1 && vs[0] == shapes.VariantSCM:
		return fmt.Sprintf("%d student updates", g)
	case len(vs) == 1:
		return fmt.Sprintf("%d student updates (%d global steps, G and D in turn)", g, all)
	}
	return fmt.Sprintf("%d student updates per variant (%d global steps of G and D for sCM+LADD and LADD only; sCM only has no D phase)", g, all)
}
