package train

import (
	"context"
	"fmt"
	"image"
	"maps"
	"path/filepath"
	"slices"

	"github.com/sprint-distill/sprint/grid"
	"github.com/sprint-distill/sprint/internal/filename"
	"github.com/sprint-distill/sprint/train/logging"
)

// Validation is what a validation hook returns.
type Validation struct {
	// Images are sets of images, each saved as one PNG grid samples/step-NNNNNNNNN-<name>.png
	// and logged as the image "samples/<name>" (e.g. "1step", "2step").
	Images map[string][]image.Image
	// Columns of the grids (0: as square as possible).
	Columns int
	// Scalars are logged as "val/<name>".
	Scalars map[string]float64
}

// Validator is the validation hook, called every train.validate_every global steps with
// the current groups (read-only).
type Validator interface {
	Validate(ctx context.Context, step int64, groups map[string]Group) (Validation, error)
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(ctx context.Context, step int64, groups map[string]Group) (Validation, error)

// Validate implements Validator.
func (f ValidatorFunc) Validate(ctx context.Context, step int64, groups map[string]Group) (Validation, error) {
	return f(ctx, step, groups)
}

// validate runs the validation hook, saves its grids and logs them; failures are reported
// and training goes on.
func (r *Run) validate(ctx context.Context) {
	v, err := r.opts.Validator.Validate(ctx, r.c.global, r.groups)
	if err != nil {
		r.logf("warning: validation at global step %d failed: %v", r.c.global, err)
		return
	}
	imgs := map[string]image.Image{}
	for _, name := range slices.Sorted(maps.Keys(v.Images)) {
		sheet := grid.Grid(v.Images[name], v.Columns)
		imgs["samples/"+name] = sheet
		p := filepath.Join(r.dir, "samples", fmt.Sprintf("step-%09d-%s.png", r.c.global, filename.Safe(name, '_')))
		if err := grid.WritePNG(p, sheet); err != nil {
			r.logf("warning: saving samples %s: %v", p, err)
		} else {
			r.logf("validation samples: %s", p)
		}
	}
	if len(imgs) > 0 {
		r.sinkCall(func(s logging.Sink) error { return s.Images(r.c.global, imgs) })
	}
	if len(v.Scalars) > 0 {
		row := map[string]float64{}
		for k, x := range v.Scalars {
			row["val/"+k] = x
		}
		r.sinkCall(func(s logging.Sink) error { return s.Scalars(r.c.global, row) })
	}
}
