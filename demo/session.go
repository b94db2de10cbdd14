package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// session is what both demos begin with and share while they run: the demo folder made, the
// model config resolved, the shapes data made if absent, the teacher loaded and the held-out
// set drawn.
type session struct {
	ctx     context.Context
	backend compute.Backend
	resume  bool
	start   time.Time
	out     io.Writer
	mcfg    model.Config
	teacher model.Params
	held    *heldOut
}

// begin starts a demo. check, when not nil, vets the resolved model config before any data is
// made.
func begin(ctx context.Context, backend compute.Backend, cfg *config.Config, opts Options, check func(model.Config) error) (*session, error) {
	s := &session{ctx: ctx, backend: backend, resume: opts.Resume, start: time.Now(), out: opts.Console}
	if s.out == nil {
		s.out = io.Discard
	}
	if err := os.MkdirAll(cfg.Demo.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("demo.dir %s: %w", cfg.Demo.Dir, err)
	}
	var err error
	if s.mcfg, err = cfg.Model.Resolved(); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(s.mcfg); err != nil {
			return nil, err
		}
	}
	if err := ensureShapes(cfg, s.out); err != nil {
		return nil, err
	}
	if s.teacher, err = job.LoadTeacher(cfg, s.mcfg, false); err != nil {
		return nil, err
	}
	if s.held, err = newHeldOut(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// done says how long the demo took and where its report is.
func (s *session) done(dir string, total time.Duration) {
	fmt.Fprintf(s.out, "demo: done in %s; report %s\n", total.Round(time.Second), filepath.Join(dir, "report.md"))
}

// training is one training of a demo: the job, its folder (started over unless resuming) and
// the words of its console line and errors.
type training struct {
	kind job.Kind
	dir  string
	what string // the console says "demo: <what> into <dir>"
	name string // its errors begin "<name>: "
	stop string // the error of a run that stopped early, after "<name>: ", formatted with its outcome and step
}

// train runs one training of the demo and returns its groups and wall time.
func (s *session) train(cfg *config.Config, t training) (map[string]train.Group, time.Duration, error) {
	if err := config.ValidateSections(cfg); err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(s.out, "demo: %s into %s\n", t.what, t.dir)
	resume := ""
	if s.resume {
		resume = "auto"
	} else if err := os.RemoveAll(t.dir); err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	j, err := job.New(s.ctx, s.backend, cfg, t.kind, job.Options{Dir: t.dir, Resume: resume, Console: s.out})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", t.name, err)
	}
	res, err := j.Execute(s.ctx) // also exports what the run trained to <run>/export
	groups := j.Run.Groups()
	j.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", t.name, err)
	}
	if res.Outcome != train.OutcomeCompleted {
		return nil, 0, fmt.Errorf("%s: "+t.stop, t.name, res.Outcome, res.GlobalStep)
	}
	return groups, time.Since(t0), nil
}
