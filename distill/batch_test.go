package distill

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestNewBatchChecksShapes(t *testing.T) {
	z := func(dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		return tensors.FromFlatDataAndDimensions(make([]float32, n), dims...)
	}
	b, err := NewBatch(z(2, 4, 8, 8), z(2, 5, 16), z(2, 5), z(5, 16))
	if err != nil {
		t.Fatal(err)
	}
	named := b.Tensors()
	if len(named) != 4 || named[NullEmbedding] == nil || named[BatchLatent] != b.Latent {
		t.Fatalf("tensors: %v", named)
	}
	if b, err := NewBatch(z(2, 4, 8, 8), z(2, 5, 16), z(2, 5), nil); err != nil || len(b.Tensors()) != 3 {
		t.Fatalf("without null: %v", err)
	}
	for _, c := range []struct {
		name                    string
		latent, text, mask, nul *tensors.Tensor
		want                    string
	}{
		{"latent rank", z(2, 4, 8), z(2, 5, 16), z(2, 5), nil, `"latent" must be (B, C, H, W)`},
		{"text batch", z(2, 4, 8, 8), z(3, 5, 16), z(3, 5), nil, `"text_embedding" must be (B, L, D) with B = 2`},
		{"mask length", z(2, 4, 8, 8), z(2, 5, 16), z(2, 6), nil, `"text_mask" must be (B, L)`},
		{"null width", z(2, 4, 8, 8), z(2, 5, 16), z(2, 5), z(1, 5, 8), "want (5, 16) like the captions"},
		{"null batch", z(2, 4, 8, 8), z(2, 5, 16), z(2, 5), z(2, 5, 16), "want (5, 16)"},
		{"missing", nil, z(2, 5, 16), z(2, 5), nil, "all required"},
	} {
		if _, err := NewBatch(c.latent, c.text, c.mask, c.nul); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestValidateHeadBlocks(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HeadBlockIDs = []int{2, 8, 14, 19}
	if err := cfg.ValidateHeadBlocks(20); err != nil {
		t.Fatal(err)
	}
	err := cfg.ValidateHeadBlocks(19)
	if err == nil || !strings.Contains(err.Error(), "head_block_ids[3]: block 19 does not exist in a model of depth 19") {
		t.Fatalf("depth: %v", err)
	}
	cfg.HeadBlockIDs = []int{2, 2, 1, -1}
	err = cfg.ValidateHeadBlocks(20)
	for _, want := range []string{"[1]: block 2 must come after block 2", "[2]: block 1 must come after block 2", "[3]: block -1 does not exist"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("order: %v, want %q", err, want)
		}
	}
}
