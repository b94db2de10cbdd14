package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/job"
)

func init() {
	registerGroup("config", "Show, validate and list the keys of YAML configs", "",
		newConfigShowCmd, newConfigValidateCmd, newConfigKeysCmd)
}

// configFlags are the flags every config-reading verb shares.
type configFlags struct {
	sets []string
}

func (f *configFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override a key: --set train.max_steps=100 (repeatable; YAML values)")
}

// loadRequired loads the config file at path, which a verb cannot run without, with the --set
// overrides; hint ends the message when path is empty.
func (f *configFlags) loadRequired(path, hint string) (*config.Config, error) {
	if path == "" {
		return nil, fmt.Errorf("--config is required%s", hint)
	}
	return config.Load(path, f.sets)
}

func newConfigShowCmd() *cobra.Command {
	var showFlags configFlags
	var out string
	cmd := &cobra.Command{
		Use:   "show [FILE]",
		Short: "Print the resolved config (defaults, bases, SPRINT_* environment, --set) as YAML",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(optionalArg(args), showFlags.sets)
			if err != nil {
				return err
			}
			b, err := config.Marshal(cfg)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, b, 0o644); err != nil {
					return fmt.Errorf("writing resolved config: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
				return nil
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	showFlags.add(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the resolved YAML to this file instead of stdout")
	return cmd
}

func newConfigValidateCmd() *cobra.Command {
	var valFlags configFlags
	var valConfig, valRun string
	var checkPaths bool
	cmd := &cobra.Command{
		Use:   "validate [FILE | --config FILE] [--run distill|train-teacher] [--check-paths]",
		Short: "Check a config strictly, with every cross-section check a run makes, and optionally its input files",
		Long: `validate loads a config as a run would (unknown keys, types, bases, every section's values)
and runs the checks that span sections for the kind of run (--run; default: distill when
distill.teacher_weights is set, else train-teacher): the head block ids against the model depth
and in increasing order, sigma_data of the model and of distill, the global batch against the
per-rank batch. With --check-paths it also looks for every local input the run needs (shards,
teacher weights, the null caption) and lists all that are missing with how to produce each,
without starting a run.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := valConfig
			switch {
			case len(args) == 1 && path != "" && args[0] != path:
				return fmt.Errorf("give the config once: as the argument or as --config, not both (%s, %s)", args[0], path)
			case len(args) == 1:
				path = args[0]
			case path == "":
				return fmt.Errorf("no config to validate: sprint config validate FILE (or --config FILE)")
			}
			cfg, err := config.Load(path, valFlags.sets)
			if err != nil {
				return err
			}
			kind, err := runKind(valRun, cfg)
			if err != nil {
				return err
			}
			if err := job.CheckConfig(cfg, kind); err != nil {
				if valRun == "" && kind == job.Distill {
					// A teacher fine-tune also sets distill.teacher_weights (its starting weights).
					return fmt.Errorf("config %s: %w\n(checked as a distillation because distill.teacher_weights is set; "+
						"for a teacher fine-tune pass --run train-teacher)", path, err)
				}
				return fmt.Errorf("config %s: %w", path, err)
			}
			if checkPaths {
				if err := job.CheckInputs(cfg, kind, path); err != nil {
					return fmt.Errorf("config %s: %w", path, err)
				}
			}
			fp, err := config.Fingerprint(cfg)
			if err != nil {
				return err
			}
			what := "ok"
			if checkPaths {
				what = "ok, every input present"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s for %s (fingerprint %s)\n", path, what, kind, fp[:16])
			return nil
		},
	}
	valFlags.add(cmd)
	cmd.Flags().StringVarP(&valConfig, "config", "c", "", "YAML config file (same as the argument)")
	cmd.Flags().StringVar(&valRun, "run", "", "the run to check for: distill or train-teacher (default: from the config)")
	cmd.Flags().BoolVar(&checkPaths, "check-paths", false, "also check that every input file the run needs exists")
	return cmd
}

func newConfigKeysCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "List every config key with its type, default and environment variable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			def := config.Default()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tTYPE\tDEFAULT")
			flat := config.Flatten(&def)
			for _, l := range config.Leaves(&def) {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Key, l.Type, flat[l.Key])
			}
			return tw.Flush()
		},
	}
}

func optionalArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// runKind parses --run, defaulting to a distillation when the config names a teacher.
func runKind(name string, cfg *config.Config) (job.Kind, error) {
	switch name {
	case "distill":
		return job.Distill, nil
	case "train-teacher", "teacher":
		return job.Teacher, nil
	case "":
		if cfg.Distill.TeacherWeights != "" {
			return job.Distill, nil
		}
		return job.Teacher, nil
	}
	return 0, fmt.Errorf("--run %q: want distill or train-teacher", name)
}
