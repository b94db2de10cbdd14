package train

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
)

// gridGap is the spacing in pixels between the cells of a Grid.
const gridGap = 2

// Grid lays images out in rows of cols cells (cols <= 0: as square as possible), each cell
// the size of the largest image, separated by 2-pixel gaps, on a black background.
func Grid(images []image.Image, cols int) image.Image {
	n := len(images)
	if n == 0 {
		return image.NewRGBA(image.Rect(0, 0, 0, 0))
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	cw, ch := 0, 0
	for _, img := range images {
		b := img.Bounds()
		cw, ch = max(cw, b.Dx()), max(ch, b.Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, cols*cw+(cols-1)*gridGap, rows*ch+(rows-1)*gridGap))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	for i, img := range images {
		x, y := (i%cols)*(cw+gridGap), (i/cols)*(ch+gridGap)
		b := img.Bounds()
		draw.Draw(out, image.Rect(x, y, x+b.Dx(), y+b.Dy()), img, b.Min, draw.Src)
	}
	return out
}

// WritePNG writes an image to a PNG file.
func WritePNG(path string, img image.Image) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return png.Encode(f, img)
}
