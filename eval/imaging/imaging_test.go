package imaging

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func pattern(w, h int) *RGB8 {
	m := NewRGB8(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				m.Pix[(y*w+x)*3+c] = uint8((x*37 + y*91 + c*53 + x*y*13) % 256)
			}
		}
	}
	return m
}

func TestResizeMatchesPIL(t *testing.T) {
	src := pattern(7, 5)
	for _, g := range pilResizeGoldens {
		got, err := Resize(src, g.w, g.h, g.filter)
		if err != nil {
			t.Fatal(err)
		}
		for i := range g.want {
			if got.Pix[i] != g.want[i] {
				t.Fatalf("%dx%d filter %d: byte %d = %d, PIL %d", g.w, g.h, g.filter, i, got.Pix[i], g.want[i])
			}
		}
	}
}

func TestTorchBilinearGoldens(t *testing.T) {
	// 2x2 [[0,1],[2,3]] -> 4x4 (reference notes §5.3).
	src := &Float{Width: 2, Height: 2, Channels: 1, Pix: []float32{0, 1, 2, 3}}
	got, err := ResizeBilinearNoAA(src, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, .25, .75, 1, .5, .75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3}
	for i := range want {
		if math.Abs(float64(got.Pix[i]-want[i])) > 1e-6 {
			t.Fatalf("4x4 = %v, want %v", got.Pix, want)
		}
	}
	// 1-D [0,1,2,3] -> 2 gives [0.5, 2.5].
	row := &Float{Width: 4, Height: 1, Channels: 1, Pix: []float32{0, 1, 2, 3}}
	got, _ = ResizeBilinearNoAA(row, 2, 1)
	if got.Pix[0] != 0.5 || got.Pix[1] != 2.5 {
		t.Fatalf("1-D downscale %v", got.Pix)
	}
	// Same size is the identity.
	p := pattern(5, 3).ToFloat()
	same, _ := ResizeBilinearNoAA(p, 5, 3)
	for i := range p.Pix {
		if same.Pix[i] != p.Pix[i] {
			t.Fatal("same-size resize changed values")
		}
	}
	// Channels are independent: an RGB image whose channels hold 0, 1, 2 keeps them.
	c3 := NewFloat(3, 3, 3)
	for i := range c3.Pix {
		c3.Pix[i] = float32(i % 3)
	}
	up, _ := ResizeBilinearNoAA(c3, 7, 5)
	for i, v := range up.Pix {
		if v != float32(i%3) {
			t.Fatalf("channel mixing at %d: %v", i, v)
		}
	}
}

func TestCenterCrop(t *testing.T) {
	for _, c := range []struct{ in, out, want int }{{225, 224, 0}, {227, 224, 2}, {226, 224, 1}, {229, 224, 2}, {224, 224, 0}} {
		if got := CenterCropOffset(c.in, c.out); got != c.want {
			t.Errorf("offset(%d,%d)=%d want %d", c.in, c.out, got, c.want)
		}
	}
	m := pattern(9, 6)
	got, err := CenterCrop(m, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	// x offset round(2.5)=2, y offset round(1.5)=2.
	if got.At(0, 0, 0) != m.At(2, 2, 0) || got.At(3, 2, 2) != m.At(5, 4, 2) {
		t.Fatal("crop taken from the wrong place")
	}
	if _, err := CenterCrop(m, 10, 3); err == nil {
		t.Fatal("crop larger than the image accepted")
	}
}

func TestShorterSide(t *testing.T) {
	for _, c := range []struct{ w, h, size, ow, oh int }{
		{1024, 1024, 224, 224, 224}, {640, 480, 224, 298, 224}, {480, 640, 224, 224, 298}, {300, 1000, 224, 224, 746},
	} {
		if w, h := ShorterSideSize(c.w, c.h, c.size); w != c.ow || h != c.oh {
			t.Errorf("%dx%d -> %dx%d, want %dx%d", c.w, c.h, w, h, c.ow, c.oh)
		}
	}
	m := pattern(6, 4)
	same, err := ResizeShorterSide(m, 4, Bilinear)
	if err != nil || same != m {
		t.Fatal("same-size Resize should return the image unchanged")
	}
}

func TestJPEGDecodeCloseToPIL(t *testing.T) {
	data, err := base64.StdEncoding.DecodeString(pilJPEG)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := jpeg.Decode(bytes.NewReader(data))
	var fancyMax, fancySum, plainSum float64
	b := img.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			plain := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			pc := [3]uint8{plain.R, plain.G, plain.B}
			for c := 0; c < 3; c++ {
				want := float64(pilJPEGDecoded[(y*b.Dx()+x)*3+c])
				d := math.Abs(float64(got.At(x, y, c)) - want)
				fancyMax = math.Max(fancyMax, d)
				fancySum += d
				plainSum += math.Abs(float64(pc[c]) - want)
			}
		}
	}
	n := float64(b.Dx() * b.Dy() * 3)
	t.Logf("mean |Go-PIL|: libjpeg-style upsampling %.3f (max %.0f), Go's default %.3f", fancySum/n, fancyMax, plainSum/n)
	if fancySum > plainSum {
		t.Errorf("libjpeg-style upsampling is further from PIL (%.3f) than Go's default (%.3f)", fancySum/n, plainSum/n)
	}
	if fancySum/n > 0.25 || fancyMax > 2 {
		t.Errorf("decoded JPEG differs from PIL by mean %.3f, max %.0f", fancySum/n, fancyMax)
	}
}

func TestFromImageVariants(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix[0], gray.Pix[1] = 10, 200
	m := FromImage(gray)
	if m.At(1, 0, 0) != 200 || m.At(1, 0, 2) != 200 || m.At(0, 0, 1) != 10 {
		t.Fatal("gray conversion")
	}
	// Alpha is dropped without premultiplying.
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.Pix = []uint8{200, 100, 50, 10}
	m = FromImage(nrgba)
	if m.Pix[0] != 200 || m.Pix[1] != 100 || m.Pix[2] != 50 {
		t.Fatalf("NRGBA %v", m.Pix)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 1, 1))
	rgba.Pix = []uint8{100, 50, 0, 128}
	m = FromImage(rgba)
	if m.Pix[0] != 199 {
		t.Fatalf("RGBA un-premultiplied red = %d", m.Pix[0])
	}
	// A uniform 4:2:0 image converts like Go's own conversion.
	ycc := image.NewYCbCr(image.Rect(0, 0, 5, 3), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = 120
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = 90, 160
	}
	m = FromImage(ycc)
	r, g, bb := color.YCbCrToRGB(120, 90, 160)
	for x := 0; x < 5; x++ {
		if d := int(m.At(x, 2, 0)) - int(r); d < -1 || d > 1 {
			t.Fatalf("uniform conversion R %d vs %d", m.At(x, 2, 0), r)
		}
		if d := int(m.At(x, 2, 1)) - int(g); d < -1 || d > 1 {
			t.Fatalf("uniform conversion G %d vs %d", m.At(x, 2, 1), g)
		}
		if d := int(m.At(x, 2, 2)) - int(bb); d < -1 || d > 1 {
			t.Fatalf("uniform conversion B %d vs %d", m.At(x, 2, 2), bb)
		}
	}
}

func TestListImages(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.png", "a.JPG", "c.txt", "d.jpeg"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub.png"), 0o755)
	got, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || filepath.Base(got[0]) != "a.JPG" || filepath.Base(got[2]) != "d.jpeg" {
		t.Fatalf("%v", got)
	}
}

func TestCropOutside(t *testing.T) {
	m := pattern(4, 4)
	c, err := Crop(m, -1, -1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.At(0, 0, 0) != 0 || c.At(1, 1, 0) != m.At(0, 0, 0) {
		t.Fatal("crop outside the image should be black")
	}
	if _, err := Crop(m, 2, 2, 2, 3); err == nil {
		t.Fatal("empty crop accepted")
	}
}
