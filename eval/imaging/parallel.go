package imaging

import (
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// PreprocessAll runs preprocess (a network's resize, crop and normalisation) on every image in
// parallel, GOMAXPROCS at a time; every image is tried, and the failure of the first failing one
// in order is the error.
func PreprocessAll(imgs []*RGB8, preprocess func(*RGB8) (*Float, error)) ([]*Float, error) {
	out := make([]*Float, len(imgs))
	errs := make([]error, len(imgs))
	var g errgroup.Group // each task records its own error; all are reported
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, img := range imgs {
		g.Go(func() error {
			out[i], errs[i] = preprocess(img)
			return nil
		})
	}
	_ = g.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("preprocessing image %d: %w", i, err)
		}
	}
	return out, nil
}
