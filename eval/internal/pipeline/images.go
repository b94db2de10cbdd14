package pipeline

import (
	"context"
	"io"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/progress"
)

// Images is Run over image files: it decodes paths (imaging.Load) and hands them to process in
// consecutive batches, printing the progress in images to w as label (nil w: none).
func Images(ctx context.Context, paths []string, opts Options, w io.Writer, label string, process func(start int, imgs []*imaging.RGB8) error) error {
	rep := progress.New(w, label, "images", len(paths))
	err := Run(ctx, len(paths), opts,
		func(i int) (*imaging.RGB8, error) { return imaging.Load(paths[i]) },
		func(start int, imgs []*imaging.RGB8) error {
			if err := process(start, imgs); err != nil {
				return err
			}
			rep.Add(len(imgs))
			return nil
		})
	if err != nil {
		return err
	}
	rep.Finish()
	return nil
}
