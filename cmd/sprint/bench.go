package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/bench"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var flags configFlags
	var cfgPath, jsonPath, only string
	var opts bench.Options
	var sampleSteps []int
	cmd := &cobra.Command{
		Use:   "bench --config FILE",
		Short: "Time the FM, G and D steps and 1/2/4-step sampling with random weights at a config's shapes",
		Long: `bench builds random networks at the config's model shapes (no data, no weights files), then
measures on the backend (GOMLX_BACKEND): compile time and median step time of the teacher's
flow-matching step, the generator and the discriminator step (with the run's optimizer, clipping,
train.precision and model.grad_checkpointing), student sampling at 1, 2 and 4 steps, samples/s,
model FLOPs from shapes and MFU against --peak-tflops or the device's known peak, and the device
memory XLA's compiler reports (n/a on the Go backend). It prints a table; --json writes the same
as JSON. The memory settings are the training verbs': a Go heap soft limit of 75% of the machine's
memory unless GOMEMLIMIT is set, and with model.grad_checkpointing the Go backend's low-memory
execution unless GOMLX_BACKEND chooses.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.loadRequired(cfgPath, "")
			if err != nil {
				return err
			}
			// The steps run as the training verbs run them (memory limit, low-memory execution
			// with model.grad_checkpointing).
			conf := trainingBackend(cfg, cmd.ErrOrStderr())
			return withBackendConfig(conf, func(backend compute.Backend) error {
				if only != "" {
					opts.Only = strings.Split(only, ",")
				}
				opts.SampleSteps = sampleSteps
				opts.Progress = cmd.ErrOrStderr()
				rep, err := bench.Run(backend, cfg, opts)
				if err != nil {
					return err
				}
				rep.WriteTable(cmd.OutOrStdout())
				if jsonPath == "" {
					return nil
				}
				f, err := os.Create(jsonPath)
				if err != nil {
					return fmt.Errorf("--json: %w", err)
				}
				if err := rep.WriteJSON(f); err != nil {
					_ = f.Close()
					return fmt.Errorf("--json %s: %w", jsonPath, err)
				}
				return f.Close()
			})
		},
	}
	flags.add(cmd)
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config (model shapes, distill and train sections)")
	cmd.Flags().StringVar(&jsonPath, "json", "", "also write the results as JSON to this file")
	cmd.Flags().IntVar(&opts.Batch, "batch", 0, "batch size (default train.batch_size)")
	cmd.Flags().Float64Var(&opts.PeakTFLOPS, "peak-tflops", 0, "device peak in TFLOP/s for MFU (default: known H100/H200/A100 peaks)")
	cmd.Flags().IntVar(&opts.Repeats, "repeats", 3, "timed executions per measurement, after one warm-up")
	cmd.Flags().StringVar(&only, "only", "", "comma-separated subset: fm_step, g_step, d_step, sample")
	cmd.Flags().IntSliceVar(&sampleSteps, "sample-steps", []int{1, 2, 4}, "sampler step counts")
	cmd.Flags().Int64Var(&opts.Seed, "seed", 1, "seed of the random weights and inputs")
	return cmd
}
