package vae

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sprint-distill/sprint/internal/tensortest"
	"github.com/sprint-distill/sprint/safetensors"
)

// TestGoldenTorch compares the encoder and decoder with testdata/golden.py, an independent
// PyTorch (NCHW, torch.nn.functional) implementation of AutoencoderDC, on two tiny random configs
// that between them use every block kind: ResBlock with RMSNorm and BatchNorm, SiLU/ReLU/GELU/Mish,
// EfficientViT blocks with one, two and three attention scales in both the linear (H·W > d) and
// the quadratic (H·W ≤ d) form, stride-2 conv and pixel-unshuffle downsampling, interpolate and
// pixel-shuffle upsampling, stage 0 with and without layers, and both stem shortcuts.
func TestGoldenTorch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inputs int
	}{{"sana_tiny", 2}, {"in_tiny", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(testBackend(t), filepath.Join("testdata", tc.name), BothParts)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Finalize()
			io, _, err := safetensors.ReadFile(filepath.Join("testdata", tc.name+"_io.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			for k := range tc.inputs {
				x, zWant, yWant := io[fmt.Sprintf("images_%d", k)], io[fmt.Sprintf("latents_%d", k)], io[fmt.Sprintf("decoded_%d", k)]
				z, err := m.Encode(x)
				if err != nil {
					t.Fatal(err)
				}
				if d := tensortest.MaxAbsDiff(tensortest.Floats(t, z), tensortest.Floats(t, zWant)); d > 2e-5*max(1, tensortest.MaxAbs(tensortest.Floats(t, zWant))) {
					t.Errorf("input %d: latents differ from torch by %g (max |z| %g)", k, d, tensortest.MaxAbs(tensortest.Floats(t, zWant)))
				}
				y, err := m.Decode(zWant)
				if err != nil {
					t.Fatal(err)
				}
				if d := tensortest.MaxAbsDiff(tensortest.Floats(t, y), tensortest.Floats(t, yWant)); d > 2e-5*max(1, tensortest.MaxAbs(tensortest.Floats(t, yWant))) {
					t.Errorf("input %d: decoded images differ from torch by %g (max |y| %g)", k, d, tensortest.MaxAbs(tensortest.Floats(t, yWant)))
				}
				t.Logf("input %d %v: |Δz| %.2g (|z| ≤ %.2g), |Δy| %.2g (|y| ≤ %.2g)", k, x.Shape().Dimensions,
					tensortest.MaxAbsDiff(tensortest.Floats(t, z), tensortest.Floats(t, zWant)), tensortest.MaxAbs(tensortest.Floats(t, zWant)),
					tensortest.MaxAbsDiff(tensortest.Floats(t, y), tensortest.Floats(t, yWant)), tensortest.MaxAbs(tensortest.Floats(t, yWant)))
			}
		})
	}
}
