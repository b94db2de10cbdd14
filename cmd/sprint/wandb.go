package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/train/logging"
)

func init() { registerGroup("wandb", "Weights & Biases utilities", "", newWandBSyncCmd) }

func newWandBSyncCmd() *cobra.Command {
	var entity, project string
	cmd := &cobra.Command{
		Use:   "sync DIR",
		Short: "Upload a run's local W&B copy (offline mode, or rows an online run failed to send)",
		Long: `sync uploads the local W&B folder of a run (runs/<name>/wandb, or the run folder itself):
it creates or resumes the W&B run, asks the server how many history rows it already has, uploads
the remaining rows with their images, then the summary and the exit code if the run has ended.
Running it again uploads nothing new. The API key comes from WANDB_API_KEY and the server from
WANDB_BASE_URL (default https://api.wandb.ai).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if sub := filepath.Join(dir, "wandb"); isDirPath(sub) {
				dir = sub
			}
			rep, err := logging.SyncWandB(context.Background(), dir, logging.WandBOptions{Entity: entity, Project: project})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "W&B run %s/%s/%s: uploaded %d of %d history rows", rep.Entity, rep.Project, rep.RunID, rep.Rows, rep.Total)
			if rep.Finished {
				fmt.Fprintf(cmd.OutOrStdout(), "; marked finished (exit code %d)", rep.ExitCode)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&entity, "entity", "", "upload to this entity instead of the folder's")
	cmd.Flags().StringVar(&project, "project", "", "upload to this project instead of the folder's")
	return cmd
}
