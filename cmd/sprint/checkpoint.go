package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/job"
)

func init() {
	registerGroup("checkpoint", "Inspect and list run checkpoints", "",
		newCheckpointInspectCmd, newCheckpointListCmd, newCheckpointExportCmd)
}

func newCheckpointInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
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
				err = enc.Encode(r)
			} else {
				err = r.WriteText(cmd.OutOrStdout())
			}
			if err == nil && r.Integrity != "ok" {
				return exitError{code: 1, err: fmt.Errorf("checkpoint %s is damaged: %s", r.Path, strings.TrimPrefix(r.Integrity, "DAMAGED: "))}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func newCheckpointListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list RUN_DIR",
		Short: "List the checkpoints of a run folder (or checkpoints folder), oldest first, marking the latest",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := checkpoints.FolderOf(args[0])
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
}

// newCheckpointExportCmd exports one network of a run checkpoint in the diffusers layout.
func newCheckpointExportCmd() *cobra.Command {
	var group, out, dtype string
	var pipeline bool
	cmd := &cobra.Command{
		Use:   "export CHECKPOINT|RUN_DIR --out DIR [--group student]",
		Short: "Write one network of a run checkpoint (student, teacher, ema_student) as a diffusers folder",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			res, err := job.ExportCheckpoint(args[0], group, out, dtype, pipeline, func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), msg) })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %s (%d tensors) of %s to %s\n", group, res.Tensors, res.Checkpoint, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&group, "group", "student", "the group to export: student, teacher or ema_student")
	cmd.Flags().StringVar(&out, "out", "", "output folder (diffusion_pytorch_model.safetensors + config.json)")
	cmd.Flags().BoolVar(&pipeline, "pipeline", false, "write a SanaSprintPipeline folder (transformer/, scheduler/ with sigma_data and the θ schedule, model_index.json); students only")
	cmd.Flags().StringVar(&dtype, "dtype", "", "stored dtype: float32, bfloat16 or float16 (default: as trained)")
	return cmd
}

// isDirPath reports whether p is an existing folder.
func isDirPath(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
