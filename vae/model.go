package vae

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Model runs a DC-AE on a backend: the encoder and/or decoder of one config with its weights,
// each compiled once per input shape. Encode and Decode follow diffusers (no scaling);
// EncodeScaled and DecodeScaled work in the diffusion model's latent space, z·scaling_factor.
// A Model is safe for concurrent use (calls are serialised).
type Model struct {
	cfg     Config
	parts   Parts
	mu      sync.Mutex
	encArgs []any // encoder weights in sorted-name order
	decArgs []any
	enc     *graph.Exec
	dec     *graph.Exec
}

// New builds a Model from cfg and the tensors of the parts it holds (see Load, RandomParams).
// Every tensor of a present part must be there with its shape; tensors of the other part are
// not needed. The tensors are moved to the backend (reading them later copies them back).
func New(backend compute.Backend, cfg Config, p Params) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg}
	for _, part := range []struct {
		parts Parts
		specs []ParamSpec
		args  *[]any
		exec  **graph.Exec
		fn    func(Config, Weights, *graph.Node) *graph.Node
		name  string
	}{
		{EncoderPart, EncoderParamSpecs(cfg), &m.encArgs, &m.enc, Encoder, "dcae-encoder"},
		{DecoderPart, DecoderParamSpecs(cfg), &m.decArgs, &m.dec, Decoder, "dcae-decoder"},
	} {
		var names []string
		var missing []string
		for _, s := range part.specs {
			if s.Optional {
				continue
			}
			t, ok := p[s.Name]
			if !ok {
				missing = append(missing, s.Name)
				continue
			}
			if !shapeIs(t, s.Dims) {
				return nil, fmt.Errorf("DC-AE tensor %q has shape %s, want %v", s.Name, t.Shape(), s.Dims)
			}
			names = append(names, s.Name)
		}
		if len(missing) == len(part.specs) || len(names) == 0 {
			continue // part absent
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("DC-AE %s: %d tensors missing, e.g. %q", part.name, len(missing), missing[0])
		}
		for _, n := range names {
			// Move the weights to the backend once (shared with the host where the backend
			// allows), so that calls do not copy them and no second copy is held.
			if err := p[n].ToDevice(backend, 0); err != nil {
				return nil, fmt.Errorf("DC-AE tensor %q: %w", n, err)
			}
			*part.args = append(*part.args, p[n])
		}
		fn, nw := part.fn, len(names)
		exec, err := graph.NewExec(backend, func(g *graph.Graph, in []*graph.Node) []*graph.Node {
			w := make(Weights, nw)
			for i, n := range names {
				w[n] = in[i]
			}
			return []*graph.Node{fn(cfg, w, in[nw])}
		})
		if err != nil {
			return nil, fmt.Errorf("DC-AE %s: %w", part.name, err)
		}
		exec.SetMaxCache(16)
		*part.exec = exec.WithName(part.name)
		m.parts |= part.parts
	}
	if m.parts == 0 {
		return nil, errors.New("DC-AE: the parameters hold neither the encoder nor the decoder")
	}
	return m, nil
}

func shapeIs(t *tensors.Tensor, dims []int) bool {
	d := t.Shape().Dimensions
	if len(d) != len(dims) {
		return false
	}
	for i := range d {
		if d[i] != dims[i] {
			return false
		}
	}
	return true
}

// Open loads the selected parts from a diffusers folder (see Load) and builds a Model.
func Open(backend compute.Backend, dir string, parts Parts) (*Model, error) {
	cfg, p, err := Load(dir, parts)
	if err != nil {
		return nil, err
	}
	return New(backend, cfg, p)
}

// Config returns the model's config.
func (m *Model) Config() Config { return m.cfg }

// Parts says which halves the model holds.
func (m *Model) Parts() Parts { return m.parts }

// Finalize releases the compiled graphs.
func (m *Model) Finalize() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range []*graph.Exec{m.enc, m.dec} {
		if e != nil {
			e.Finalize()
		}
	}
	m.enc, m.dec = nil, nil
}

// Encode maps images (B, in_channels, H, W) in [−1, 1] to latents (B, latent_channels, H/f, W/f),
// unscaled, as diffusers' AutoencoderDC.encode(x).latent. H and W must be multiples of
// SpatialCompression.
func (m *Model) Encode(images *tensors.Tensor) (*tensors.Tensor, error) {
	if m.enc == nil {
		return nil, errors.New("DC-AE: this model was built without its encoder")
	}
	d := images.Shape().Dimensions
	f := m.cfg.SpatialCompression()
	if len(d) != 4 || d[1] != m.cfg.InChannels || d[2]%f != 0 || d[3]%f != 0 || d[2] == 0 || d[3] == 0 {
		return nil, fmt.Errorf("DC-AE encode: images %s: want (B, %d, H, W) with H and W positive multiples of %d",
			images.Shape(), m.cfg.InChannels, f)
	}
	return m.run(m.enc, m.encArgs, images, "encode")
}

// Decode maps latents (B, latent_channels, h, w), unscaled, to images (B, in_channels, f·h, f·w),
// nominally in [−1, 1] and not clamped, as diffusers' AutoencoderDC.decode(z).sample without tiling.
func (m *Model) Decode(latents *tensors.Tensor) (*tensors.Tensor, error) {
	if m.dec == nil {
		return nil, errors.New("DC-AE: this model was built without its decoder")
	}
	d := latents.Shape().Dimensions
	if len(d) != 4 || d[1] != m.cfg.LatentChannels || d[2] == 0 || d[3] == 0 {
		return nil, fmt.Errorf("DC-AE decode: latents %s: want (B, %d, h, w)", latents.Shape(), m.cfg.LatentChannels)
	}
	return m.run(m.dec, m.decArgs, latents, "decode")
}

// EncodeScaled is Encode followed by ·scaling_factor: the latents a SANA model is trained on.
func (m *Model) EncodeScaled(images *tensors.Tensor) (*tensors.Tensor, error) {
	z, err := m.Encode(images)
	if err != nil {
		return nil, err
	}
	return scale(z, m.cfg.ScalingFactor, false)
}

// DecodeScaled decodes latents of the diffusion model's space: Decode(z / scaling_factor).
func (m *Model) DecodeScaled(latents *tensors.Tensor) (*tensors.Tensor, error) {
	z, err := scale(latents, m.cfg.ScalingFactor, true)
	if err != nil {
		return nil, err
	}
	return m.Decode(z)
}

func (m *Model) run(e *graph.Exec, weights []any, x *tensors.Tensor, what string) (*tensors.Tensor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e == nil {
		return nil, errors.New("DC-AE: model finalized")
	}
	x, err := toFloat32(x)
	if err != nil {
		return nil, fmt.Errorf("DC-AE %s: %w", what, err)
	}
	args := append(append(make([]any, 0, len(weights)+1), weights...), x)
	outs, err := e.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("DC-AE %s of %s: %w", what, x.Shape(), err)
	}
	return outs[0], nil
}

// scale multiplies (or, with divide, divides) a tensor by s into a new float32 tensor, in float32
// arithmetic as PyTorch does for `z * scaling_factor` and `z / scaling_factor`.
func scale(t *tensors.Tensor, s float64, divide bool) (*tensors.Tensor, error) {
	vals, err := float32s(t)
	if err != nil {
		return nil, err
	}
	s32 := float32(s)
	for i := range vals {
		if divide {
			vals[i] /= s32
		} else {
			vals[i] *= s32
		}
	}
	return tensors.FromFlatDataAndDimensions(vals, t.Shape().Dimensions...), nil
}
