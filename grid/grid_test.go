package grid

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
)

func solid(w, h int, c uint8) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = c
	}
	return img
}

func red(img image.Image, x, y int) uint8 { r, _, _, _ := img.At(x, y).RGBA(); return uint8(r >> 8) }

func TestGrid(t *testing.T) {
	g := Grid([]image.Image{solid(4, 3, 10), solid(4, 3, 20), solid(2, 2, 30)}, 2)
	if b := g.Bounds(); b.Dx() != 2*4+DefaultGap || b.Dy() != 2*3+DefaultGap {
		t.Fatalf("grid bounds %v", b)
	}
	if red(g, 0, 0) != 10 || red(g, 4+DefaultGap, 0) != 20 || red(g, 0, 3+DefaultGap) != 30 || red(g, 4, 0) != 0 || red(g, 3, 3+DefaultGap) != 0 {
		t.Fatalf("grid pixels %d %d %d %d %d", red(g, 0, 0), red(g, 4+DefaultGap, 0), red(g, 0, 3+DefaultGap), red(g, 4, 0), red(g, 3, 3+DefaultGap))
	}
	if b := Grid([]image.Image{solid(1, 1, 1), solid(1, 1, 1), solid(1, 1, 1), solid(1, 1, 1)}, 0).Bounds(); b.Dx() != 2+DefaultGap {
		t.Fatalf("auto columns: %v", b)
	}
}

func TestLayoutScaleMargin(t *testing.T) {
	grey := color.RGBA{96, 96, 96, 255}
	g := Layout{Cols: 8, Scale: 4, Gap: 4, Margin: true, Background: grey}.Draw([]image.Image{solid(2, 2, 50), solid(2, 2, 60)})
	// 2 cells of 8x8 with 4-pixel gaps and margins: 4+8+4+8+4 wide, 4+8+4 high.
	if b := g.Bounds(); b.Dx() != 28 || b.Dy() != 16 {
		t.Fatalf("bounds %v", b)
	}
	if red(g, 0, 0) != 96 || red(g, 4, 4) != 50 || red(g, 11, 11) != 50 || red(g, 12, 4) != 96 || red(g, 16, 4) != 60 {
		t.Fatalf("pixels %d %d %d %d %d", red(g, 0, 0), red(g, 4, 4), red(g, 11, 11), red(g, 12, 4), red(g, 16, 4))
	}
}

func TestUpscaleAndPNG(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 2, 1))
	src.Pix[0], src.Pix[4] = 200, 100
	up := Upscale(src, 3)
	if b := up.Bounds(); b.Dx() != 6 || b.Dy() != 3 || red(up, 2, 2) != 200 || red(up, 3, 0) != 100 {
		t.Fatalf("upscale: %v %d %d", up.Bounds(), red(up, 2, 2), red(up, 3, 0))
	}
	path := filepath.Join(t.TempDir(), "sub", "x.png")
	if err := WritePNG(path, up); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("png: %v", err)
	}
}
