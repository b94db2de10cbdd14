package data

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
)

// ShapesRow builds row index of the shapes dataset: key, caption, latent (EncodeLatent of the rendered
// image), the caption's text embedding and mask, category "objects:<n>", width and height, the Scene
// as JSON in Meta and, with cfg.Control "outline", the control latent (ShapesControlLatent). enc must be cfg.TextEncoder() (passed in so that it is built once).
func ShapesRow(cfg ShapesConfig, enc *TextEncoder, index int) (*Row, error) {
	s, err := RenderShapes(cfg, index)
	if err != nil {
		return nil, err
	}
	lat, shape, err := EncodeLatentFlat(s.Image, cfg.Patch)
	if err != nil {
		return nil, fmt.Errorf("shapes sample %d: %w", index, err)
	}
	emb, mask := enc.EncodeFlat(s.Prompt)
	var control []float32
	if cfg.Control == ShapesControlOutline {
		if control, _, err = ShapesControlLatent(s.Scene, cfg.Patch); err != nil {
			return nil, fmt.Errorf("shapes sample %d: control: %w", index, err)
		}
	}
	return &Row{
		Key: s.Key, Prompt: s.Prompt,
		Latent: lat, LatentShape: shape,
		TextEmbedding: emb, TextShape: [2]int{enc.MaxTokens, enc.Dim}, TextMask: mask,
		Category: fmt.Sprintf("objects:%d", len(s.Scene.Objects)),
		Width:    cfg.ImageSize, Height: cfg.ImageSize,
		Meta:    s.Scene.JSON(),
		Control: control,
	}, nil
}

// ShapesShardPrefix is the file name prefix of the shapes dataset's shards.
const ShapesShardPrefix = "shapes"

// MakeShapes writes the shapes dataset cfg describes into outDir as shards "shapes-00000.<ext>", ...
// of cfg.ShardRows rows each. The output depends only on cfg. Each shard's schema metadata holds the
// configuration as JSON under MetaShapesConfig.
func MakeShapes(cfg ShapesConfig, outDir string) error {
	return MakeShapesProgress(cfg, outDir, nil)
}

// MakeShapesProgress is MakeShapes calling progress(done, total) after each block of rows.
func MakeShapesProgress(cfg ShapesConfig, outDir string, progress func(done, total int)) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("make shapes: %w", err)
	}
	enc, err := cfg.TextEncoder()
	if err != nil {
		return fmt.Errorf("make shapes: %w", err)
	}
	format, _ := ParseFormat(cfg.Format)
	lat, _ := ParseDType(cfg.LatentDType)
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("make shapes: %w", err)
	}
	w, err := NewWriter(outDir, WriterOptions{
		Format: format, Prefix: ShapesShardPrefix, LatentDType: lat, MaxRows: cfg.ShardRows,
		Compression: cfg.Compression, Overwrite: cfg.Overwrite,
		Metadata: map[string]string{MetaShapesConfig: string(cfgJSON)},
	})
	if err != nil {
		return fmt.Errorf("make shapes: %w", err)
	}
	// Render blocks in parallel, write them in order.
	const block = 512
	workers := runtime.GOMAXPROCS(0)
	rows := make([]*Row, block)
	errs := make([]error, block)
	for start := 0; start < cfg.NumSamples; start += block {
		n := min(block, cfg.NumSamples-start)
		var wg sync.WaitGroup
		for k := 0; k < workers; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := k; i < n; i += workers {
					rows[i], errs[i] = ShapesRow(cfg, enc, start+i)
				}
			}()
		}
		wg.Wait()
		for i := 0; i < n; i++ {
			err := errs[i]
			if err == nil {
				err = w.Write(rows[i])
			}
			if err != nil {
				discard(w)
				return fmt.Errorf("make shapes: %w", err)
			}
		}
		if progress != nil {
			progress(start+n, cfg.NumSamples)
		}
	}
	if err := w.Close(); err != nil {
		discard(w)
		return fmt.Errorf("make shapes: %w", err)
	}
	return nil
}

// discard aborts w and removes the shards it completed, so that a failed run leaves no partial dataset.
func discard(w *Writer) {
	w.Abort()
	for _, s := range w.Shards() {
		_ = os.Remove(s.Path)
	}
}

// ShapesConfigOf returns the shapes configuration recorded in shard metadata, if any.
func ShapesConfigOf(md map[string]string) (ShapesConfig, bool) {
	js, ok := md[MetaShapesConfig]
	if !ok {
		return ShapesConfig{}, false
	}
	var cfg ShapesConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return ShapesConfig{}, false
	}
	return cfg, true
}
