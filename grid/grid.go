package grid

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"

	xdraw "golang.org/x/image/draw"
)

// DefaultGap is the spacing in pixels between the cells of a Grid.
const DefaultGap = 2

// Layout says how images are tiled: Cols cells per row (<= 0: as square as possible), each
// image enlarged Scale times (nearest neighbour, so pixels stay exact; 0 means 1), Gap pixels
// between cells (and around the sheet when Margin is set), on Background (nil: black).
type Layout struct {
	Cols       int
	Scale      int
	Gap        int
	Margin     bool
	Background color.Color
}

// Grid lays images out in rows of cols cells (cols <= 0: as square as possible), each cell
// the size of the largest image, separated by DefaultGap pixels, on a black background.
func Grid(images []image.Image, cols int) image.Image {
	return Layout{Cols: cols, Gap: DefaultGap}.Draw(images)
}

// Draw tiles images as l says; each cell is the size of the largest (enlarged) image.
func (l Layout) Draw(images []image.Image) image.Image {
	n := len(images)
	if n == 0 {
		return image.NewRGBA(image.Rect(0, 0, 0, 0))
	}
	cols := l.Cols
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	scale := max(l.Scale, 1)
	cw, ch := 0, 0
	for _, img := range images {
		b := img.Bounds()
		cw, ch = max(cw, b.Dx()*scale), max(ch, b.Dy()*scale)
	}
	margin := 0
	if l.Margin {
		margin = l.Gap
	}
	out := image.NewRGBA(image.Rect(0, 0, cols*cw+(cols-1)*l.Gap+2*margin, rows*ch+(rows-1)*l.Gap+2*margin))
	bg := l.Background
	if bg == nil {
		bg = color.Black
	}
	xdraw.Draw(out, out.Bounds(), image.NewUniform(bg), image.Point{}, xdraw.Src)
	for i, img := range images {
		x, y := margin+(i%cols)*(cw+l.Gap), margin+(i/cols)*(ch+l.Gap)
		b := img.Bounds()
		dst := image.Rect(x, y, x+b.Dx()*scale, y+b.Dy()*scale)
		if scale == 1 {
			xdraw.Draw(out, dst, img, b.Min, xdraw.Src)
		} else {
			xdraw.NearestNeighbor.Scale(out, dst, img, b, xdraw.Src, nil)
		}
	}
	return out
}

// Upscale enlarges an image k times with nearest-neighbour sampling, so that pixels stay exact.
func Upscale(img image.Image, k int) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	xdraw.NearestNeighbor.Scale(dst, dst.Bounds(), img, b, xdraw.Src, nil)
	return dst
}

// WritePNG writes an image to a PNG file, creating its folder.
func WritePNG(path string, img image.Image) (err error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := png.Encode(f, img); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
