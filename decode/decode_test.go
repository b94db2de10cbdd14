package decode

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestPreviewScalesBatchRange(t *testing.T) {
	// One latent, 3 channels of 1x2: channel 0 holds the batch min and max.
	l := tensors.FromFlatDataAndDimensions([]float32{-1, 1, 0, 0, 1, -1}, 1, 3, 1, 2)
	imgs, err := Preview.Decode(l)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("preview: %v %d", err, len(imgs))
	}
	r0, g0, b0, _ := imgs[0].At(0, 0).RGBA()
	r1, _, b1, _ := imgs[0].At(1, 0).RGBA()
	// (v - lo) * 255 / (hi - lo): -1 -> 0, 0 -> 127, 1 -> 255.
	if r0>>8 != 0 || g0>>8 != 127 || b0>>8 != 255 || r1>>8 != 255 || b1>>8 != 0 {
		t.Fatalf("pixels %d %d %d %d %d", r0>>8, g0>>8, b0>>8, r1>>8, b1>>8)
	}
	if _, err := Preview.Decode(tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2)); err == nil || !strings.Contains(err.Error(), "(B, C, H, W)") {
		t.Fatalf("rank error: %v", err)
	}
}

func TestByName(t *testing.T) {
	for _, n := range []string{"shapes", "preview"} {
		if d, err := ByName(n); err != nil || d == nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	if _, err := ByName("dcae"); err == nil || !strings.Contains(err.Error(), "shapes or preview") {
		t.Fatalf("unknown decoder: %v", err)
	}
}
