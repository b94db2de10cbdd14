package main

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/demo"
	"github.com/sprint-distill/sprint/train"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var (
		cfgPath string
		flags   configFlags
		resume  bool
	)
	cmd := &cobra.Command{
		Use:   "demo [--config configs/demo.yaml]",
		Short: "The CPU demo: distil the shipped shapes teacher (sCM+LADD and ablations), sample, score, report",
		Long: `demo makes the synthetic shapes data if absent, loads the shipped teacher, distils a student
for each variant in demo.variants (sCM+LADD, sCM only, LADD only), samples the teacher at
1/2/4/20 steps and every student at 1/2/4 steps from the same held-out prompts and noise, and
writes <demo.dir>/report.md with PNG grids and a table of Fréchet distances and compositional
accuracies (an exact detector of the rendered shapes, scored like GenEval).

With control.enabled (configs/demo_control.yaml, make demo-control) it runs the control demo
instead: a ControlNet for the teacher trained on outline maps of the shapes, a one-step
Sprint-ControlNet student and an unconditioned student, scored by how often each draws the
objects where the control map puts them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, flags.sets)
			if err != nil {
				return err
			}
			ctx, stop := train.SignalContext(cmd.Context())
			defer stop()
			return withBackend(func(backend compute.Backend) error {
				if cfg.Control.Enabled {
					rep, err := demo.RunControl(ctx, backend, cfg, demo.Options{Console: cmd.OutOrStdout(), Resume: resume})
					if err != nil {
						return err
					}
					c, u := rep.Find(demo.KindStudentControl, 1), rep.Find(demo.KindStudent, 1)
					if c != nil && u != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "placement at one step: Sprint-ControlNet student %.1f%%, unconditioned student %.1f%%\n",
							100*c.Placement.Placed, 100*u.Placement.Placed)
					}
					return nil
				}
				rep, err := demo.Run(ctx, backend, cfg, demo.Options{Console: cmd.OutOrStdout(), Resume: resume})
				if err != nil {
					return err
				}
				if rep.Winner != "" { // no students (demo.variants []): teacher rows only
					fmt.Fprintf(cmd.OutOrStdout(), "winner at one step: %s\n", rep.Winner)
				}
				return nil
			})
		},
	}
	flags.add(cmd)
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "configs/demo.yaml", "YAML config file")
	cmd.Flags().BoolVar(&resume, "resume", false, "continue interrupted variant runs instead of starting them over")
	return cmd
}
