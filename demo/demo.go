package demo

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/eval/shapes"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Options are the CLI's choices for Demo.
type Options struct {
	// Console receives progress and the final summary.
	Console io.Writer
	// Resume continues the variants' runs where they stopped ("auto") instead of starting over.
	Resume bool
}

// Row is one line of the demo's table: one network sampled at one step count.
type Row struct {
	Name    string // e.g. "teacher 20 steps", "student (sCM+LADD) 1 step"
	Variant string // "" for the teacher and for students from demo.students
	Seed    int64  // the train.seed a variant was distilled with; 0 for the other rows
	Weights string // the demo.students entry a row samples; "" for the teacher and the variants
	Steps   int
	FD      float64 // Fréchet distance to held-out real images in the shapes feature space
	MSE     float64 // mean squared latent distance to the 20-step teacher from the same noise
	Acc     shapes.Accuracy
	MsPer   float64 // sampling wall time per image, ms
	Grid    string  // PNG of the first grid_prompts samples, relative to the demo folder
	images  []image.Image
}

// Report is what the demo measured.
type Report struct {
	Rows      []Row
	Trained   map[string]time.Duration // distillation wall time per run, keyed by its title ("sCM+LADD", "sCM only, seed 7")
	Winner    string                   // the variant with the best mean 1-step exact accuracy over its seeds
	Total     time.Duration
	Prompts   []string
	Overview  string
	TeacherAt string
}

// Demo runs the CPU demo: it makes the shapes data if absent, distils the configured teacher into
// a student for each ablation variant (sCM+LADD, sCM only, LADD only), samples the teacher at
// 1/2/4/20 steps and every student at 1/2/4 steps from the same held-out prompts and noise, and
// writes PNG grids and <demo.dir>/report.md with a Fréchet distance and compositional accuracy
// for every row.
func Run(ctx context.Context, backend compute.Backend, cfg *config.Config, opts Options) (*Report, error) {
	external, err := loadStudents(cfg)
	if err != nil {
		return nil, err
	}
	s, err := begin(ctx, backend, cfg, opts, nil)
	if err != nil {
		return nil, err
	}
	dc, h, mcfg := cfg.Demo, s.held, s.mcfg
	rep := &Report{Trained: map[string]time.Duration{}, TeacherAt: cfg.Distill.TeacherWeights, Prompts: h.prompts}
	text, mask, null, noise, w := h.text, h.mask, h.null, h.noise, h.guidance

	score := func(r *Row, lat *tensors.Tensor, elapsed time.Duration) error {
		sc, err := h.score(lat, dc.GridPrompts, false)
		if err != nil {
			return err
		}
		r.images, r.FD, r.Acc = sc.images, sc.fd, sc.acc
		r.MsPer = float64(elapsed.Milliseconds()) / float64(dc.Prompts)
		return nil
	}

	// The teacher's rows; the last (most steps) is the reference the students' MSE is taken to.
	fmt.Fprintf(s.out, "demo: sampling the teacher at %v steps on %d held-out prompts\n", dc.TeacherSteps, dc.Prompts)
	teacherLat := map[int]*tensors.Tensor{}
	for _, steps := range dc.TeacherSteps {
		t0 := time.Now()
		lat, err := distill.SampleTeacher(backend, mcfg, s.teacher, text, mask, null, noise, distill.TeacherSampling{Steps: steps, CFGScale: w})
		if err != nil {
			return nil, err
		}
		r := Row{Name: fmt.Sprintf("teacher, %d step%s", steps, plural(steps)), Steps: steps}
		if err := score(&r, lat, time.Since(t0)); err != nil {
			return nil, err
		}
		teacherLat[steps] = lat
		rep.Rows = append(rep.Rows, r)
	}
	teacherRef := teacherLat[maxInt(dc.TeacherSteps)]
	for i := range rep.Rows {
		if rep.Rows[i].MSE, err = latentMSE(teacherLat[rep.Rows[i].Steps], teacherRef); err != nil {
			return nil, err
		}
	}

	// sampleStudent adds a student's rows, one per demo.student_steps, named "<row.Name>, N steps".
	sampleStudent := func(student model.Params, row Row) error {
		for _, steps := range dc.StudentSteps {
			t1 := time.Now()
			lat, err := distill.SampleStudent(backend, mcfg, student, text, mask, noise, distill.StudentSampling{Steps: steps, Guidance: w, Seed: int64(dc.NoiseSeed)})
			if err != nil {
				return err
			}
			r := row
			r.Name, r.Steps = fmt.Sprintf("%s, %d step%s", row.Name, steps, plural(steps)), steps
			if err := score(&r, lat, time.Since(t1)); err != nil {
				return err
			}
			if r.MSE, err = latentMSE(lat, teacherRef); err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, r)
		}
		return nil
	}

	// One distillation per variant and seed.
	seeds, multi := dc.Seeds, len(dc.Seeds) > 1
	if len(seeds) == 0 {
		seeds = []int64{cfg.Train.Seed}
	}
	for _, v := range dc.Variants {
		for _, seed := range seeds {
			vcfg, err := variantConfig(cfg, v)
			if err != nil {
				return nil, err
			}
			vcfg.Train.Seed = seed
			key, title := v, variantTitle(v)
			if multi {
				key, title = fmt.Sprintf("%s_s%d", v, seed), fmt.Sprintf("%s, seed %d", title, seed)
				vcfg.Train.Name += fmt.Sprintf("_s%d", seed)
			}
			groups, took, err := s.train(vcfg, training{kind: job.Distill, dir: filepath.Join(dc.Dir, key),
				what: fmt.Sprintf("distilling variant %s (%s)", key, title), name: "variant " + key,
				stop: "distillation %s at step %d; rerun `make demo` (or sprint demo --resume) to continue"})
			if err != nil {
				return nil, err
			}
			rep.Trained[title] = took
			if err := sampleStudent(sampledStudent(vcfg, groups), Row{Name: "student " + title, Variant: v, Seed: seed}); err != nil {
				return nil, err
			}
		}
	}
	// Students distilled elsewhere (demo.students), on the same prompts and noise.
	for i, path := range dc.Students {
		fmt.Fprintf(s.out, "demo: sampling the student %s at %v steps\n", path, dc.StudentSteps)
		if err := sampleStudent(external[i], Row{Name: "student " + path, Weights: path}); err != nil {
			return nil, err
		}
	}
	rep.Winner = pickWinner(rep.Rows)
	if err := writeReport(cfg, rep, s.start); err != nil {
		return nil, err
	}
	s.done(dc.Dir, rep.Total)
	return rep, nil
}

// loadStudents loads the students of demo.students, before the demo makes or samples anything,
// so that a bad path fails at once.
func loadStudents(cfg *config.Config) ([]model.Params, error) {
	if len(cfg.Demo.Students) == 0 {
		return nil, nil
	}
	mcfg, err := cfg.Model.Resolved()
	if err != nil {
		return nil, err
	}
	students := make([]model.Params, len(cfg.Demo.Students))
	for i, path := range cfg.Demo.Students {
		if students[i], err = checkpoints.LoadDiffusers(path, mcfg, model.Student); err != nil {
			return nil, fmt.Errorf("demo.students[%d]: %w (want a student's weights: a diffusers folder such as <run>/export/student, or a .safetensors file)", i, err)
		}
	}
	return students, nil
}

// sampledStudent is the student a demo samples after a distillation: the EMA of its weights when
// the run keeps one (train.ema on the student group, as SANA-Sprint evaluates), else the
// weights of its last step.
func sampledStudent(cfg *config.Config, groups map[string]train.Group) model.Params {
	if e := cfg.Train.EMA; e.Enabled && e.Group == distill.StudentGroup {
		if g, ok := groups["ema_"+distill.StudentGroup]; ok {
			return model.Params(g)
		}
	}
	return model.Params(groups[distill.StudentGroup])
}

// variantConfig returns the config of an ablation: scm_ladd as written, scm with the adversarial
// term off (and as many steps as scm_ladd has G steps), ladd with the consistency term off
// (session.train validates it).
func variantConfig(cfg *config.Config, v string) (*config.Config, error) {
	c := *cfg
	c.Distill.CfgScales = append([]float64(nil), cfg.Distill.CfgScales...)
	c.Distill.HeadBlockIDs = append([]int(nil), cfg.Distill.HeadBlockIDs...)
	c.Train.Name = cfg.Train.Name + "_" + v
	switch v {
	case shapes.VariantSCMLADD:
		if !c.Distill.SCM() || !c.Distill.LADD() {
			return nil, errors.New("demo variant scm_ladd needs distill.scm_lambda > 0 and distill.adv_lambda > 0")
		}
	case shapes.VariantSCM:
		// Without LADD there is no D phase, so every global step would be a student update:
		// the ablation compares students after the same number of updates instead.
		c.Distill.AdvLambda = 0
		c.Train.MaxSteps = cfg.Train.GSteps()
	case shapes.VariantLADD:
		c.Distill.ScmLambda = 0
	default:
		return nil, fmt.Errorf("demo.variants: unknown variant %q", v)
	}
	return &c, nil
}

func variantTitle(v string) string {
	switch v {
	case shapes.VariantSCMLADD:
		return "sCM+LADD"
	case shapes.VariantSCM:
		return "sCM only"
	case shapes.VariantLADD:
		return "LADD only"
	}
	return v
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// variantStat is one distilled variant's one-step rows over its seeds.
type variantStat struct {
	Variant   string
	Seeds     []int64
	Exact     []float64 // one-step exact accuracy per seed, in the order of Seeds
	MeanExact float64
	MeanFD    float64
}

// oneStepStats gathers the one-step rows of the distilled variants, in the order they first
// appear, with their means over seeds.
func oneStepStats(rows []Row) []variantStat {
	var stats []variantStat
	at := map[string]int{}
	for _, r := range rows {
		if r.Variant == "" || r.Steps != 1 {
			continue
		}
		i, ok := at[r.Variant]
		if !ok {
			i = len(stats)
			at[r.Variant] = i
			stats = append(stats, variantStat{Variant: r.Variant})
		}
		st := &stats[i]
		st.Seeds, st.Exact = append(st.Seeds, r.Seed), append(st.Exact, r.Acc.Exact)
		st.MeanExact += r.Acc.Exact // sums until the loop below
		st.MeanFD += r.FD
	}
	for i := range stats {
		n := float64(len(stats[i].Seeds))
		stats[i].MeanExact /= n
		stats[i].MeanFD /= n
	}
	return stats
}

// pickWinner is the variant whose one-step students have the best mean exact accuracy over
// their seeds (ties: lower mean FD).
func pickWinner(rows []Row) string {
	best := -1
	stats := oneStepStats(rows)
	for i, st := range stats {
		if best < 0 || st.MeanExact > stats[best].MeanExact ||
			(st.MeanExact == stats[best].MeanExact && st.MeanFD < stats[best].MeanFD) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return stats[best].Variant
}

func toFloat32(f []float64) []float32 {
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v)
	}
	return out
}

// latentMSE is the mean squared difference of two latent batches of one shape.
func latentMSE(a, b *tensors.Tensor) (float64, error) {
	fa, err := tensors.CopyFlatData[float32](a)
	if err != nil {
		return 0, err
	}
	fb, err := tensors.CopyFlatData[float32](b)
	if err != nil {
		return 0, err
	}
	if len(fa) != len(fb) {
		return 0, fmt.Errorf("latent MSE of batches of %d and %d values", len(fa), len(fb))
	}
	var s float64
	for i := range fa {
		d := float64(fa[i]) - float64(fb[i])
		s += d * d
	}
	if len(fa) == 0 {
		return math.NaN(), nil
	}
	return s / float64(len(fa)), nil
}
