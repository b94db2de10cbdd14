package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/decode"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/grid"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

func init() { register(newSampleCmd) }

func newSampleCmd() *cobra.Command {
	var (
		cfgPath, weights, promptList, embeddings, out, latentsOut, decoder string
		flags                                                              configFlags
		steps                                                              int
		guidance                                                           float64
		ctl                                                                controlFlags // sample_control.go
		seed                                                               uint64
		teacher                                                            bool
		zoom                                                               int
	)
	cmd := &cobra.Command{
		Use:   "sample --config FILE --weights DIR --prompts \"a red circle;two blue squares\" --steps 1 --out grid.png",
		Short: "Sample a student in 1, 2 or 4 steps (or a teacher by its ODE) and save a PNG grid",
		Long: `sample draws one image per prompt from fixed noise (--seed) and saves them as a PNG grid.

A student (diffusers folder with the guidance embedder) runs the sCM sampler (θ schedule
[π/2, 0] for 1 step, [π/2, 1.3, 0] for 2, linspace for more) with its guidance embedding at
--guidance; --teacher runs a teacher by --steps Euler steps of its CFG-guided ODE instead.

Prompts are embedded with the shapes dataset's text encoder (data.shapes in the config); for
other models give --embeddings, a safetensors file with text_embedding (n, L, D), text_mask (n, L)
and, for a teacher's CFG, null_embedding (L, D), produced by the text encoder the model was
trained with.

With --controlnet DIR (a SanaControlNetModel folder: the student's for a Sprint-ControlNet
student, the teacher's with --teacher) and --control IMAGE_OR_LATENT every sample is
conditioned on a control: a PNG (the shapes dataset's control map, encoded like its images)
or a safetensors file with a tensor "control" (n, C, H, W) or (C, H, W) of control latents;
one control serves every prompt. The wall time of sampling (graph compilation included) is
printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, flags.sets)
			if err != nil {
				return err
			}
			if weights == "" || out == "" {
				return fmt.Errorf("--weights and --out are required")
			}
			dec, err := decode.ByName(decoder)
			if err != nil {
				return fmt.Errorf("--decoder: %w", err)
			}
			mcfg, err := cfg.Model.Resolved()
			if err != nil {
				return err
			}
			role := model.Student
			if teacher {
				role = model.Teacher
			}
			params, err := checkpoints.LoadDiffusers(weights, mcfg, role)
			if err != nil {
				return err
			}
			text, mask, null, n, err := sampleInputs(cfg, promptList, embeddings)
			if err != nil {
				return err
			}
			noise := job.FixedNoise(seed, n, [3]int{mcfg.InChannels, mcfg.LatentSize, mcfg.LatentSize})
			backend, err := newBackend()
			if err != nil {
				return err
			}
			defer backend.Finalize()
			var lat *tensors.Tensor
			t0 := time.Now()
			if ctl.controlnet != "" || ctl.control != "" {
				lat, err = sampleWithControl(backend, cfg, mcfg, params, ctl, text, mask, null, noise, teacher, steps, guidance, seed)
			} else if teacher {
				lat, err = distill.SampleTeacher(backend, mcfg, params, text, mask, null, noise, distill.TeacherSampling{Steps: steps, CFGScale: guidance})
			} else {
				lat, err = distill.SampleStudent(backend, mcfg, params, text, mask, noise, distill.StudentSampling{Steps: steps, Guidance: guidance, Seed: int64(seed)})
			}
			if err != nil {
				return err
			}
			elapsed := time.Since(t0)
			if latentsOut != "" {
				if err := safetensors.WriteFile(latentsOut, map[string]*tensors.Tensor{"latents": lat}, nil); err != nil {
					return err
				}
			}
			imgs, err := dec.Decode(lat)
			if err != nil {
				return err
			}
			if zoom > 1 {
				for i := range imgs {
					imgs[i] = grid.Upscale(imgs[i], zoom)
				}
			}
			if err := grid.WritePNG(out, grid.Grid(imgs, 0)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d samples (%d step(s)) to %s; sampling took %s (%.1f ms/image, compilation included)\n",
				n, steps, out, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/1000/float64(n))
			return nil
		},
	}
	flags.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "YAML config (model: and data.shapes: sections)")
	f.StringVar(&weights, "weights", "", "diffusers folder or safetensors of the student (or teacher with --teacher)")
	f.StringVar(&promptList, "prompts", "", "prompts separated by ';' (shapes text encoder)")
	f.StringVar(&embeddings, "embeddings", "", "safetensors with text_embedding, text_mask (and null_embedding) instead of --prompts")
	f.StringVar(&out, "out", "", "output PNG grid")
	f.StringVar(&latentsOut, "latents", "", "also write the latents (tensor \"latents\") to this safetensors file")
	f.StringVar(&decoder, "decoder", "shapes", "latents to pixels: shapes (the shapes dataset's exact decoder) or preview (channels 0-2)")
	f.IntVar(&steps, "steps", 1, "sampling steps (student: 1, 2 or 4; teacher: Euler steps)")
	f.Float64Var(&guidance, "guidance", 4.5, "guidance w: the student's embedding input, the teacher's CFG scale")
	f.Uint64Var(&seed, "seed", 0, "noise seed")
	f.IntVar(&zoom, "zoom", 4, "enlarge each sample this many times (nearest neighbour) in the grid")
	f.BoolVar(&teacher, "teacher", false, "the weights are a teacher: sample its guided ODE")
	ctl.add(f)
	return cmd
}

// sampleInputs embeds the prompts with the shapes text encoder or reads precomputed embeddings.
func sampleInputs(cfg *config.Config, promptList, embeddings string) (text, mask, null *tensors.Tensor, n int, err error) {
	if embeddings != "" {
		ts, _, err := safetensors.ReadFile(embeddings)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		text, mask = ts[distill.BatchText], ts[distill.BatchMask]
		if text == nil || mask == nil || text.Rank() != 3 || mask.Rank() != 2 {
			return nil, nil, nil, 0, fmt.Errorf("%s: want tensors %s (n, L, D) and %s (n, L)", embeddings, distill.BatchText, distill.BatchMask)
		}
		if nt := ts[distill.NullEmbedding]; nt != nil {
			null = nt
		}
		return text, mask, null, text.Shape().Dimensions[0], nil
	}
	var prompts []string
	for _, p := range strings.Split(promptList, ";") {
		if p = strings.TrimSpace(p); p != "" {
			prompts = append(prompts, p)
		}
	}
	if len(prompts) == 0 {
		return nil, nil, nil, 0, fmt.Errorf("give --prompts \"a;b\" or --embeddings FILE")
	}
	enc, err := cfg.Data.Shapes.TextEncoder()
	if err != nil {
		return nil, nil, nil, 0, err
	}
	text, mask = enc.EncodeText(prompts)
	null, _ = enc.EncodeText([]string{""})
	return text, mask, null, len(prompts), nil
}
