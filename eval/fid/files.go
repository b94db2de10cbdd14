package fid

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/pipeline"
)

// RunOptions configure feature extraction over files.
type RunOptions struct {
	BatchSize int       // images per network call (default 16)
	Workers   int       // decoding goroutines (default GOMAXPROCS)
	Progress  io.Writer // progress lines (images/s, ETA); nil for none
	Label     string    // progress label
}

// StatsOfFiles decodes, embeds and accumulates the statistics of the given image files.
func StatsOfFiles(ctx context.Context, ext *Extractor, paths []string, opts RunOptions) (*Stats, error) {
	if len(paths) < 2 {
		return nil, fmt.Errorf("FID statistics need at least 2 images, have %d", len(paths))
	}
	acc := NewAccumulator(ext.Dim())
	label := opts.Label
	if label == "" {
		label = "fid features"
	}
	err := pipeline.Images(ctx, paths, pipeline.Options{BatchSize: opts.BatchSize, Workers: opts.Workers}, opts.Progress, label,
		func(start int, imgs []*imaging.RGB8) error {
			feats, err := ext.Features(imgs)
			if err != nil {
				return fmt.Errorf("images %d..%d: %w", start, start+len(imgs)-1, err)
			}
			for _, f := range feats {
				if err := acc.Add(f); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return acc.Stats()
}

// StatsOf returns the statistics of one side of an FID comparison: an .npz file is loaded, a folder's
// images (directly inside it, sorted) are embedded.
func StatsOf(ctx context.Context, ext *Extractor, path string, opts RunOptions) (*Stats, error) {
	if strings.HasSuffix(strings.ToLower(path), ".npz") {
		return LoadStats(path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is neither a folder of images nor an .npz of statistics", path)
	}
	if ext == nil {
		return nil, fmt.Errorf("%s: a folder needs the FID Inception weights", path)
	}
	paths, err := imaging.ListImages(path)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s holds no images (.jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp)", path)
	}
	if opts.Label == "" {
		opts.Label = path
	}
	return StatsOfFiles(ctx, ext, paths, opts)
}
