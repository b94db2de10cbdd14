package main

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/spf13/pflag"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/internal/tensorconv"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// controlFlags are sample's ControlNet flags.
type controlFlags struct {
	controlnet, control string
	scale               float64
}

func (c *controlFlags) add(f *pflag.FlagSet) {
	f.StringVar(&c.controlnet, "controlnet", "", "SanaControlNetModel folder or safetensors (the student's, or the teacher's with --teacher)")
	f.StringVar(&c.control, "control", "", `control for every sample: a PNG control map (shapes) or a safetensors file with tensor "control" (n|1, C, H, W)`)
	f.Float64Var(&c.scale, "control-scale", 1, "ControlNet conditioning scale")
}

// sampleWithControl samples a student (sCM sampler) or a teacher (guided ODE) with its ControlNet.
func sampleWithControl(backend compute.Backend, cfg *config.Config, mcfg model.Config, params model.Params, c controlFlags,
	text, mask, null, noise *tensors.Tensor, teacher bool, steps int, guidance float64, seed uint64) (*tensors.Tensor, error) {
	if c.controlnet == "" || c.control == "" {
		return nil, fmt.Errorf("--controlnet and --control go together")
	}
	layers, err := checkpoints.ControlNetLayers(c.controlnet)
	if err != nil {
		return nil, fmt.Errorf("--controlnet: %w", err)
	}
	weights, err := checkpoints.LoadControlNet(c.controlnet, mcfg, layers)
	if err != nil {
		return nil, fmt.Errorf("--controlnet: %w", err)
	}
	n := noise.Shape().Dimensions[0]
	cond, err := readControl(c.control, cfg, n, [3]int(noise.Shape().Dimensions[1:]))
	if err != nil {
		return nil, fmt.Errorf("--control: %w", err)
	}
	in := distill.ControlInput{Weights: weights, Layers: layers, Scale: c.scale, Cond: cond}
	if teacher {
		return distill.SampleTeacherControl(backend, mcfg, params, in, text, mask, null, noise, distill.TeacherSampling{Steps: steps, CFGScale: guidance})
	}
	return distill.SampleStudentControl(backend, mcfg, params, in, text, mask, noise, distill.StudentSampling{Steps: steps, Guidance: guidance, Seed: int64(seed)})
}

// readControl reads n control latents of the given shape (C, H, W) from a PNG control map,
// encoded like the shapes dataset's images (data.shapes.patch), or from a safetensors file with
// a tensor "control" of n or 1 latents (one serves every sample), in float32.
func readControl(path string, cfg *config.Config, n int, shape [3]int) (*tensors.Tensor, error) {
	var vals []float32
	var got [3]int
	count := 1
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if vals, got, err = data.EncodeLatentFlat(img, cfg.Data.Shapes.Patch); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case ".safetensors":
		ts, _, err := safetensors.ReadFile(path)
		if err != nil {
			return nil, err
		}
		t, ok := ts[distill.BatchControl]
		if !ok || (t.Rank() != 3 && t.Rank() != 4) {
			return nil, fmt.Errorf("%s: want a tensor %q of shape (n, C, H, W) or (C, H, W)", path, distill.BatchControl)
		}
		if vals, err = tensorconv.Float32s(t); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		d := t.Shape().Dimensions
		if t.Rank() == 4 {
			count, d = d[0], d[1:]
		}
		got = [3]int{d[0], d[1], d[2]}
	default:
		return nil, fmt.Errorf("%s: want a .png control map or a .safetensors file of control latents", path)
	}
	if got != shape {
		return nil, fmt.Errorf("%s: control latent %v, want the model's latent shape %v", path, got, shape)
	}
	if count != 1 && count != n {
		return nil, fmt.Errorf("%s: %d control latents for %d samples (give 1 or %d)", path, count, n, n)
	}
	all := vals
	for len(all) < n*len(vals)/count {
		all = append(all, vals...)
	}
	return tensors.FromFlatDataAndDimensions(all, n, shape[0], shape[1], shape[2]), nil
}
