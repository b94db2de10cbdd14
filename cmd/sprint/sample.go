package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/caption"
	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/decode"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/grid"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

func init() { register(newSampleCmd) }

// sampleFlags are the choices of `sprint sample`.
type sampleFlags struct {
	cfgPath, weights, promptList, embeddings, textEncoder string
	out, imagesDir, latentsOut, decoder, vaeDir           string
	prompts                                               []string
	flags                                                 configFlags
	steps, zoom                                           int
	guidance                                              float64
	seed                                                  uint64
	teacher                                               bool
	ctl                                                   controlFlags // sample_control.go
}

func newSampleCmd() *cobra.Command {
	var s sampleFlags
	cmd := &cobra.Command{
		Use:   `sample --weights DIR (--prompt "..." ... | --prompts FILE | --embeddings FILE) [--steps 1] --out grid.png`,
		Short: "Prompts to pictures: text encoder, a student in 1, 2 or 4 steps (or a teacher's ODE), decoder, PNGs",
		Long: `sample draws one image per prompt from fixed noise (--seed) and saves them as a PNG grid
(--out) and, with --images DIR, one PNG per prompt; it prints the time of each stage.

A student (diffusers folder with the guidance embedder) runs the sCM sampler (θ schedule
[π/2, 0] for 1 step, [π/2, 1.3, 0] for 2, linspace for more) with its guidance embedding at
--guidance; --teacher runs a teacher by --steps Euler steps of its CFG-guided ODE instead.

Prompts (--prompt, repeatable; --prompts, a file with one prompt per line or a ';'-separated
list) go through --text-encoder: a Gemma-2 folder (google/gemma-2-2b-it; SANA's caption
handling from the text: section) or "shapes", the shapes dataset's encoder (the default for
models whose caption width is the shapes encoder's). --embeddings instead reads a safetensors
file with text_embedding (n, L, D), text_mask (n, L) and, for a teacher's CFG, null_embedding
(L, D) (what sprint text encode writes).

With --controlnet DIR (a SanaControlNetModel folder: the student's for a Sprint-ControlNet
student, the teacher's with --teacher) and --control IMAGE_OR_LATENT every sample is
conditioned on a control: a PNG (the shapes dataset's control map, encoded like its images)
or a safetensors file with a tensor "control" (n, C, H, W) or (C, H, W) of control latents;
one control serves every prompt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return s.run(cmd) },
	}
	s.flags.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&s.cfgPath, "config", "c", "", "YAML config (model:, data.shapes: and text: sections)")
	f.StringVar(&s.weights, "weights", "", "diffusers folder or safetensors of the student (or teacher with --teacher)")
	f.StringArrayVar(&s.prompts, "prompt", nil, "a prompt (repeatable)")
	f.StringVar(&s.promptList, "prompts", "", "a file with one prompt per line, or prompts separated by ';'")
	f.StringVar(&s.embeddings, "embeddings", "", "safetensors with text_embedding, text_mask (and null_embedding) instead of prompts")
	f.StringVar(&s.textEncoder, "text-encoder", "", `Gemma-2 folder, or "shapes" (default: shapes when the caption width fits)`)
	f.StringVar(&s.out, "out", "", "output PNG grid")
	f.StringVar(&s.imagesDir, "images", "", "also write each image as DIR/<i>.png")
	f.StringVar(&s.latentsOut, "latents", "", "also write the latents (tensor \"latents\") to this safetensors file")
	f.StringVar(&s.decoder, "decoder", "shapes", "latents to pixels: shapes (the shapes dataset's exact decoder), preview (channels 0-2), dcae (with --vae) or none (--latents only)")
	f.StringVar(&s.vaeDir, "vae", "", "DC-AE diffusers folder (e.g. dc-ae-f32c32-sana-1.1-diffusers): decode SANA latents to pixels")
	f.IntVar(&s.steps, "steps", 1, "sampling steps (student: 1, 2 or 4; teacher: Euler steps)")
	f.Float64Var(&s.guidance, "guidance", 4.5, "guidance w: the student's embedding input, the teacher's CFG scale")
	f.Uint64Var(&s.seed, "seed", 0, "noise seed")
	f.IntVar(&s.zoom, "zoom", 4, "enlarge each sample this many times (nearest neighbour) in the grid")
	f.BoolVar(&s.teacher, "teacher", false, "the weights are a teacher: sample its guided ODE")
	s.ctl.add(f)
	return cmd
}

func (s *sampleFlags) run(cmd *cobra.Command) error {
	cfg, err := config.Load(s.cfgPath, s.flags.sets)
	if err != nil {
		return err
	}
	if s.weights == "" {
		return fmt.Errorf("--weights is required")
	}
	if s.vaeDir != "" && !cmd.Flags().Changed("decoder") {
		s.decoder = job.DecoderDCAE
	}
	if s.decoder != "none" {
		if s.decoder != job.DecoderDCAE {
			if _, err := decode.ByName(s.decoder); err != nil {
				return fmt.Errorf("--decoder: %w (or %s with --vae DIR, or none to write --latents only)", err, job.DecoderDCAE)
			}
		} else if s.vaeDir == "" {
			return fmt.Errorf("--decoder %s needs --vae DIR (a DC-AE diffusers folder)", job.DecoderDCAE)
		}
		if s.out == "" && s.imagesDir == "" {
			return fmt.Errorf("--out (a grid) or --images (a folder) is required (or --decoder none --latents FILE to write latents only)")
		}
	} else if s.latentsOut == "" {
		return fmt.Errorf("--decoder none writes latents only: give --latents FILE")
	}
	mcfg, err := cfg.Model.Resolved()
	if err != nil {
		return err
	}
	if _, ok := data.ShapesPatch(mcfg.InChannels); s.decoder == "shapes" && !ok {
		return fmt.Errorf("--decoder shapes decodes the shapes dataset's RGB latents (3p² channels), but model.in_channels is %d: "+
			"use --decoder preview, or none with --latents", mcfg.InChannels)
	}
	prompts, err := s.promptTexts()
	if err != nil {
		return err
	}
	role := model.Student
	if s.teacher {
		role = model.Teacher
	}
	for _, msg := range checkpoints.ConfigWarnings(s.weights) {
		fmt.Fprintln(cmd.ErrOrStderr(), msg)
	}
	params, err := checkpoints.LoadDiffusers(s.weights, mcfg, role)
	if err != nil {
		return err
	}
	return withBackend(func(backend compute.Backend) error { return s.draw(cmd, backend, cfg, mcfg, params, prompts) })
}

// draw samples the prompts with the loaded network, decodes the latents and writes the outputs
// with the time of each stage.
func (s *sampleFlags) draw(cmd *cobra.Command, backend compute.Backend, cfg *config.Config, mcfg model.Config, params model.Params, prompts []string) error {
	var dec decode.Decoder
	if s.decoder != "none" {
		d, closeDec, err := job.OpenDecoder(backend, s.decoder, s.vaeDir)
		if err != nil {
			return fmt.Errorf("--decoder: %w", err)
		}
		defer closeDec()
		dec = d
	}

	t0 := time.Now()
	text, mask, null, src, err := s.captions(cmdContext(cmd), backend, cfg, mcfg, prompts)
	if err != nil {
		return err
	}
	if d := text.Shape().Dimensions[2]; d != mcfg.CaptionDim {
		return fmt.Errorf("caption embeddings from %s are %d wide, but the model's caption_dim is %d: "+
			"use the text encoder the model was trained with", src, d, mcfg.CaptionDim)
	}
	n := text.Shape().Dimensions[0]
	t1 := time.Now()
	noise := job.FixedNoise(s.seed, n, [3]int{mcfg.InChannels, mcfg.LatentSize, mcfg.LatentSize})
	var lat *tensors.Tensor
	if s.ctl.controlnet != "" || s.ctl.control != "" {
		lat, err = sampleWithControl(backend, cfg, mcfg, params, s.ctl, text, mask, null, noise, s.teacher, s.steps, s.guidance, s.seed)
	} else if s.teacher {
		lat, err = distill.SampleTeacher(backend, mcfg, params, text, mask, null, noise, distill.TeacherSampling{Steps: s.steps, CFGScale: s.guidance})
	} else {
		lat, err = distill.SampleStudent(backend, mcfg, params, text, mask, noise, distill.StudentSampling{Steps: s.steps, Guidance: s.guidance, Seed: int64(s.seed)})
	}
	if err != nil {
		return err
	}
	t2 := time.Now()
	if s.latentsOut != "" {
		if err := safetensors.WriteFile(s.latentsOut, map[string]*tensors.Tensor{"latents": lat}, nil); err != nil {
			return err
		}
	}
	if dec == nil {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %d latents (%d step(s)) to %s\n", n, s.steps, s.latentsOut)
		return nil
	}
	imgs, err := dec.Decode(lat)
	if err != nil {
		return err
	}
	t3 := time.Now()
	if s.imagesDir != "" {
		for i, im := range imgs {
			if err := grid.WritePNG(filepath.Join(s.imagesDir, fmt.Sprintf("%03d.png", i)), im); err != nil {
				return err
			}
		}
	}
	if s.out != "" {
		if s.zoom > 1 {
			for i := range imgs {
				imgs[i] = grid.Upscale(imgs[i], s.zoom)
			}
		}
		if err := grid.WritePNG(s.out, grid.Grid(imgs, 0)); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %d samples (%d step(s)) to %s\n", n, s.steps, strings.Trim(s.out+" "+s.imagesDir, " "))
	fmt.Fprintf(cmd.OutOrStdout(), "time: text %.3fs | sampling %.3fs (%.1f ms/image) | decoding %.3fs | total %.3fs\n",
		t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), 1000*t2.Sub(t1).Seconds()/float64(n), t3.Sub(t2).Seconds(), t3.Sub(t0).Seconds())
	return nil
}

// promptTexts gathers --prompt and --prompts (a file, one prompt per line, or a ';' list).
func (s *sampleFlags) promptTexts() ([]string, error) {
	prompts := append([]string(nil), s.prompts...)
	if s.promptList != "" {
		list := strings.Split(s.promptList, ";")
		if st, err := os.Stat(s.promptList); err == nil && !st.IsDir() {
			b, err := os.ReadFile(s.promptList)
			if err != nil {
				return nil, fmt.Errorf("--prompts: %w", err)
			}
			list = strings.Split(string(b), "\n")
		}
		for _, p := range list {
			if p = strings.TrimSpace(p); p != "" {
				prompts = append(prompts, p)
			}
		}
	}
	switch {
	case len(prompts) > 0 && s.embeddings != "":
		return nil, fmt.Errorf("give prompts (--prompt, --prompts) or --embeddings, not both")
	case len(prompts) == 0 && s.embeddings == "":
		return nil, fmt.Errorf(`give --prompt "...", --prompts FILE or --embeddings FILE`)
	}
	return prompts, nil
}

// captions encodes the prompts (or reads --embeddings): embeddings (n, L, D), masks (n, L), the
// null caption for a teacher's CFG, and where they came from (for messages).
func (s *sampleFlags) captions(ctx context.Context, backend compute.Backend, cfg *config.Config, mcfg model.Config, prompts []string) (text, mask, null *tensors.Tensor, src string, err error) {
	if s.embeddings != "" {
		text, mask, null, err = readEmbeddings(s.embeddings)
		return text, mask, null, s.embeddings, err
	}
	enc := s.textEncoder
	if enc == "" {
		if mcfg.CaptionDim != cfg.Data.Shapes.EmbedDim {
			return nil, nil, nil, "", fmt.Errorf("the model's captions are %d wide, not the shapes encoder's %d: give --text-encoder (a Gemma-2 folder) or --embeddings",
				mcfg.CaptionDim, cfg.Data.Shapes.EmbedDim)
		}
		enc = job.TextEncoderShapes
	}
	if enc == job.TextEncoderShapes {
		te, err := cfg.Data.Shapes.TextEncoder()
		if err != nil {
			return nil, nil, nil, "", err
		}
		text, mask = te.EncodeText(prompts)
		null, _ = te.EncodeText([]string{""})
		return text, mask, null, "the shapes text encoder", nil
	}
	ce, err := caption.Open(backend, enc, cfg.Text, caption.OpenOptions{})
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("--text-encoder: %w", err)
	}
	defer ce.Close()
	if text, mask, err = ce.Encode(ctx, prompts); err != nil {
		return nil, nil, nil, "", err
	}
	if s.teacher {
		if null, _, err = ce.EncodeNull(ctx); err != nil {
			return nil, nil, nil, "", err
		}
	}
	return text, mask, null, enc, nil
}

// readEmbeddings reads text_embedding (n, L, D), text_mask (n, L) and an optional
// null_embedding, converted to float32 (text encoders often write bf16).
func readEmbeddings(path string) (text, mask, null *tensors.Tensor, err error) {
	ts, _, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	text, mask, null = ts[distill.BatchText], ts[distill.BatchMask], ts[distill.NullEmbedding]
	if text == nil || mask == nil || text.Rank() != 3 || mask.Rank() != 2 {
		return nil, nil, nil, fmt.Errorf("%s: want tensors %s (n, L, D) and %s (n, L)", path, distill.BatchText, distill.BatchMask)
	}
	for _, t := range []**tensors.Tensor{&text, &mask, &null} {
		if *t == nil {
			continue
		}
		if *t, err = checkpoints.ConvertTensor(*t, dtypes.Float32); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if md, td := mask.Shape().Dimensions, text.Shape().Dimensions; md[0] != td[0] || md[1] != td[1] {
		return nil, nil, nil, fmt.Errorf("%s: %s %v and %s %v disagree (want (n, L, D) and (n, L))", path, distill.BatchText, td, distill.BatchMask, md)
	}
	return text, mask, null, nil
}
