package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/config"
)

func init() { register(newConfigCmd) }

// configFlags are the flags every config-reading verb shares.
type configFlags struct {
	sets []string
}

func (f *configFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override a key: --set train.max_steps=100 (repeatable; YAML values)")
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show, validate and list the keys of YAML configs",
	}
	var showFlags configFlags
	var out string
	show := &cobra.Command{
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
	showFlags.add(show)
	show.Flags().StringVarP(&out, "out", "o", "", "write the resolved YAML to this file instead of stdout")

	var valFlags configFlags
	validate := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config strictly: unknown keys, types, bases and every section's values",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0], valFlags.sets)
			if err != nil {
				return err
			}
			fp, err := config.Fingerprint(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (fingerprint %s)\n", args[0], fp[:16])
			return nil
		},
	}
	valFlags.add(validate)

	keys := &cobra.Command{
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
	cmd.AddCommand(show, validate, keys)
	return cmd
}

func optionalArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}
