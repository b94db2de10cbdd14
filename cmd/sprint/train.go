package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/internal/backendconfig"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/train"
)

func init() {
	register(func() *cobra.Command { return newTrainCmd(job.Teacher) })
	register(func() *cobra.Command { return newTrainCmd(job.Distill) })
}

func newTrainCmd(kind job.Kind) *cobra.Command {
	var (
		cfgPath     string
		flags       configFlags
		resume      string
		allowChange bool
		dir         string
	)
	cmd := &cobra.Command{
		Use:  kind.String() + " --config FILE",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.loadRequired(cfgPath, " (e.g. configs/demo.yaml)")
			if err != nil {
				return err
			}
			return runJob(cmdContext(cmd), cfg, kind, job.Options{Dir: dir, Resume: resume, AllowConfigChange: allowChange, Console: cmd.OutOrStdout(), ConfigPath: cfgPath})
		},
	}
	switch kind {
	case job.Teacher:
		cmd.Short = "Train or fine-tune a flow-matching teacher (e.g. add QK-norm and the dense time embedding)"
	case job.Distill:
		cmd.Short = "Distil a 1-4 step student from a teacher with sCM + LADD"
	}
	cmd.Long = cmd.Short + `.

The run folder (<train.run_dir>/<train.name>, or --run-dir) gets the resolved config, checkpoints,
metrics.jsonl, TensorBoard events, sample grids and train.log; a completed run exports its network
in the diffusers layout to <run>/export/. SIGINT/SIGTERM finish the step, save a checkpoint and exit 0;
train.max_hours stops with a checkpoint and exit status 75 so that scripts/chain.sh can resume.

Memory: unless GOMEMLIMIT is set, the Go heap's soft limit is 75% of the machine's memory. With
model.grad_checkpointing the pure-Go backend runs the step's nodes one at a time in the order the
graph was built (go:ops_sequential,creation_order; GOMLX_BACKEND overrides), which frees each
block's recomputed activations before the next; the first output line says what was chosen.`
	flags.add(cmd)
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "YAML config file")
	cmd.Flags().StringVar(&resume, "resume", "", `resume from "latest", "auto" (latest if any) or a checkpoint path`)
	cmd.Flags().BoolVar(&allowChange, "allow-config-change", false, "resume even if the config differs from the checkpoint's")
	cmd.Flags().StringVar(&dir, "run-dir", "", "run folder (default <train.run_dir>/<train.name>)")
	return cmd
}

// trainMemoryFraction is the share of the machine's memory training jobs set as the Go heap's
// soft limit when GOMEMLIMIT is not set.
const trainMemoryFraction = 0.75

// trainingBackend sets up memory for the training steps of cfg and returns the backend
// configuration to open, writing one "memory:" line to console when it chose something. The Go
// heap gets a soft limit (unless GOMEMLIMIT is set): the step's buffers are Go memory, and without
// it the heap grows to twice the live set (weights, optimizer states, activations) before a
// collection. With model.grad_checkpointing the Go backend (unless GOMLX_BACKEND chooses how it
// executes) runs the graph's nodes one at a time in creation order, which frees each block's
// recomputed activations before the next (backendconfig.LowMemoryOptions).
func trainingBackend(cfg *config.Config, console io.Writer) string {
	limit := limitMemory(trainMemoryFraction)
	conf := backendconfig.FromEnv()
	if cfg.Model.GradCheckpointing {
		conf = backendconfig.FromEnvLowMemory()
	}
	if cfg.Model.GradCheckpointing || limit > 0 {
		fmt.Fprintf(console, "memory: backend %s", conf)
		if limit > 0 {
			fmt.Fprintf(console, ", Go heap soft limit %.1f GiB (%.0f%% of the machine's memory; GOMEMLIMIT overrides)", float64(limit)/(1<<30), 100*trainMemoryFraction)
		}
		fmt.Fprintln(console)
	}
	return conf
}

func runJob(parent context.Context, cfg *config.Config, kind job.Kind, opts job.Options) error {
	ctx, stop := train.SignalContext(parent)
	defer stop()
	conf := trainingBackend(cfg, opts.Console)
	return withBackendConfig(conf, func(backend compute.Backend) error {
		j, err := job.New(ctx, backend, cfg, kind, opts)
		if err != nil {
			return err
		}
		defer j.Close()
		res, err := j.Execute(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.Console, "%s: %s at global step %d (checkpoint %s)\n", kind, res.Outcome, res.GlobalStep, res.Checkpoint)
		if res.Outcome == train.OutcomeCompleted {
			fmt.Fprintf(opts.Console, "exported to %s\n", j.ExportDir())
			if dir := j.EMAExportDir(); dir != "" {
				fmt.Fprintf(opts.Console, "exported its EMA to %s\n", dir)
			}
		}
		if code := res.Outcome.ExitCode(); code != 0 {
			return exitError{code: code}
		}
		return nil
	})
}
