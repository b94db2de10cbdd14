package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/generate"
	"github.com/sprint-distill/sprint/job"
)

// generateFlags are the flags of the verbs that generate images from prompts with a student
// (eval mjhq --generate, eval geneval-layout --generate).
type generateFlags struct {
	on          bool
	student     string
	textEncoder string
	decoder     string
	vaeDir      string
	steps       int
	guidance    float64
	seed        uint64
	batch       int
	shard       string
}

func (g *generateFlags) add(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.BoolVar(&g.on, "generate", false, "first generate "+what+" with --student (resumable: existing images are kept)")
	f.StringVar(&g.student, "student", "", "the distilled student (diffusers folder) that generates")
	f.StringVar(&g.textEncoder, "text-encoder", "", `Gemma-2 folder (google/gemma-2-2b-it) for the prompts, or "shapes"`)
	f.StringVar(&g.decoder, "decoder", "", "latents to pixels: shapes, preview or dcae (default: dcae with --vae, else shapes)")
	f.StringVar(&g.vaeDir, "vae", "", "DC-AE diffusers folder (e.g. dc-ae-f32c32-sana-1.1-diffusers) that decodes the latents")
	f.IntVar(&g.steps, "steps", 1, "student sampling steps (1, 2 or 4)")
	f.Float64Var(&g.guidance, "guidance", 4.5, "the student's guidance embedding w")
	f.Uint64Var(&g.seed, "seed", 0, "noise seed (the same seed makes the same images)")
	f.IntVar(&g.batch, "gen-batch", 4, "images per sampler call")
	f.StringVar(&g.shard, "shard", "0/1", "this process's share, i/n: it makes every n-th batch from the i-th (one process per device)")
}

// parseShard reads "i/n".
func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 <= i < n, e.g. 0/8", s)
	}
	return i, n, nil
}

// run generates items with the student, printing a per-stage timing line.
func (g *generateFlags) run(ctx context.Context, cmd *cobra.Command, cfg *config.Config, items []generate.Item) error {
	shard, shards, err := parseShard(g.shard)
	if err != nil {
		return err
	}
	return withBackend(func(backend compute.Backend) error {
		dec, closeDec, err := job.OpenDecoder(backend, g.decoder, g.vaeDir)
		if err != nil {
			return fmt.Errorf("--decoder: %w", err)
		}
		defer closeDec()
		gen, closeGen, err := job.NewGenerator(backend, job.GeneratorOptions{
			Student: g.student, Config: cfg, TextEncoder: g.textEncoder, Caption: cfg.Text, Decoder: dec,
			Steps: g.steps, Guidance: g.guidance, Seed: g.seed, BatchSize: g.batch, Shard: shard, Shards: shards,
			Progress: cmd.ErrOrStderr(),
		})
		if err != nil {
			return err
		}
		defer closeGen()
		st, err := gen.Run(ctx, items)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "generated %d images (%d already there) in %d batches: text %.1fs, sampling %.1fs, decoding %.1fs\n",
			st.Written, st.Present, st.Batches, st.Encode.Seconds(), st.Sample.Seconds(), st.Decode.Seconds())
		return nil
	})
}
