package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/checkpoints"
)

func init() { register(newCheckpointCmd) }

func newCheckpointCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Inspect and list run checkpoints",
	}
	var asJSON bool
	inspect := &cobra.Command{
		Use:   "inspect PATH",
		Short: "Show a run checkpoint: step counters, data position, every tensor with its shape, dtype and digest",
		Long: `inspect reads a run checkpoint one tensor at a time and prints its step counters (global,
per phase, skipped, schedule), the next phase, the seed, the data reader's position, the config
fingerprint, and every tensor ("<group>/<name>") with its dtype, shape and the sha256 of its bytes,
plus one digest over all of them: two checkpoints with the same digest hold bitwise-equal tensors.
PATH is a checkpoint file, a checkpoints folder or a run folder (its latest checkpoint).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := checkpoints.Inspect(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.WriteText(cmd.OutOrStdout())
		},
	}
	inspect.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")

	list := &cobra.Command{
		Use:   "list RUN_DIR",
		Short: "List the checkpoints of a run folder (or checkpoints folder), oldest first, marking the latest",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if sub := filepath.Join(dir, "checkpoints"); isDirPath(sub) {
				dir = sub
			}
			paths, err := checkpoints.List(dir)
			if err != nil {
				return err
			}
			latest, _ := checkpoints.Latest(dir)
			for _, p := range paths {
				mark := ""
				if p == latest {
					mark = "  (latest)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s%s\n", p, mark)
			}
			if len(paths) == 0 {
				return fmt.Errorf("%s: %w", dir, checkpoints.ErrNoCheckpoint)
			}
			return nil
		},
	}
	cmd.AddCommand(inspect, list)
	return cmd
}

// isDirPath reports whether p is an existing folder.
func isDirPath(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
