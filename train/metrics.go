package train

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sprint-distill/sprint/train/logging"
)

// phaseWindow accumulates a phase's values between two log rows.
type phaseWindow struct {
	n    int
	sums map[string]float64
	lr   float64
}

// openSinks opens the metric sinks of the `log:` section.
func (r *Run) openSinks(ctx context.Context) error {
	lc := r.opts.Log
	if lc.JSONL {
		j, err := logging.NewJSONL(filepath.Join(r.dir, "metrics.jsonl"))
		if err != nil {
			return err
		}
		r.sinks = append(r.sinks, j)
	}
	if lc.TensorBoard {
		tb, err := logging.NewTensorBoard(r.dir)
		if err != nil {
			return err
		}
		r.sinks = append(r.sinks, tb)
	}
	if lc.WandB.Enabled {
		opts := logging.WandBOptions{
			Dir: filepath.Join(r.dir, "wandb"), Project: lc.WandB.Project, Entity: lc.WandB.Entity,
			DisplayName: r.cfg.Name, Config: r.opts.ConfigFlat, Offline: lc.WandB.Mode == "offline",
			Warn: func(err error) { r.logf("warning: %v", err) },
		}
		w, err := logging.NewWandB(ctx, opts)
		if err != nil && !opts.Offline {
			r.logf("warning: W&B online logging unavailable (%v); logging offline to %s, upload later with `sprint wandb sync %s`", err, opts.Dir, opts.Dir)
			opts.Offline = true
			w, err = logging.NewWandB(ctx, opts)
		}
		if err != nil {
			return err
		}
		mode := "online"
		if opts.Offline {
			mode = "offline"
		}
		r.logf("W&B run %s (%s, local copy in %s)", w.RunID(), mode, opts.Dir)
		r.sinks = append(r.sinks, w)
	}
	r.sinks = append(r.sinks, r.opts.Sinks...)
	return nil
}

// logf writes a timestamped line to train.log and, with log.console, to the console.
func (r *Run) logf(format string, args ...any) {
	line := fmt.Sprintf("%s %s\n", r.clock().Format("2006-01-02 15:04:05"), fmt.Sprintf(format, args...))
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if r.logFile != nil {
		_, _ = io.WriteString(r.logFile, line)
	}
	if r.opts.Log.Console {
		_, _ = io.WriteString(r.console, line)
	}
}

// record adds a successful step's values to the log window.
func (r *Run) record(p *Phase, sr StepResult, lr float64) {
	w := r.window[p.Name]
	if w == nil {
		w = &phaseWindow{sums: map[string]float64{}}
		r.window[p.Name] = w
	}
	w.n++
	w.lr = lr
	w.sums["loss"] += sr.Loss
	w.sums["grad_norm"] += sr.GradNorm
	for k, v := range sr.Metrics {
		w.sums[k] += v
	}
}

// flushLog writes the window's means to the sinks and the progress line.
func (r *Run) flushLog() {
	last := r.phases[(r.c.phaseIndex+len(r.phases)-1)%len(r.phases)].Name
	if r.c.phaseRepeat > 0 {
		last = r.phases[r.c.phaseIndex].Name
	}
	now := r.clock()
	elapsed := now.Sub(r.windowStart).Seconds()
	steps := r.c.global - r.windowStep
	row := map[string]float64{"global_step": float64(r.c.global), "skipped": float64(r.c.skipped)}
	var rate float64
	if elapsed > 0 && steps > 0 {
		rate = float64(steps) / elapsed
		row["steps_per_sec"] = rate
	}
	var line strings.Builder
	fmt.Fprintf(&line, "step %d/%d [%s]", r.c.global, r.cfg.MaxSteps, last)
	for _, p := range r.phases {
		w := r.window[p.Name]
		if w == nil || w.n == 0 {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(w.sums)) {
			row[p.Name+"/"+k] = w.sums[k] / float64(w.n)
		}
		row[p.Name+"/lr"] = w.lr
		fmt.Fprintf(&line, " | %s loss %.4g grad_norm %.3g lr %.3g", p.Name, row[p.Name+"/loss"], row[p.Name+"/grad_norm"], w.lr)
	}
	if rate > 0 {
		eta := time.Duration(float64(r.cfg.MaxSteps-r.c.global) / rate * float64(time.Second))
		fmt.Fprintf(&line, " | %.2f steps/s | ETA %s", rate, eta.Round(time.Second))
	}
	if r.c.skipped > 0 {
		fmt.Fprintf(&line, " | skipped %d", r.c.skipped)
	}
	r.logf("%s", line.String())
	r.sinkCall(func(s logging.Sink) error { return s.Scalars(r.c.global, row) })
	r.window = map[string]*phaseWindow{}
	r.windowStart, r.windowStep = now, r.c.global
}

// sinkCall calls every sink, reporting each sink's first failure once: logging problems
// never stop training.
func (r *Run) sinkCall(f func(logging.Sink) error) {
	for i, s := range r.sinks {
		if err := f(s); err != nil && !r.sinkWarned[i] {
			r.sinkWarned[i] = true
			r.logf("warning: metrics sink %T: %v (further errors of this sink are not reported)", s, err)
		}
	}
}
