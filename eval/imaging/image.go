package imaging

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder
	_ "image/png"  // registers the PNG decoder
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	_ "golang.org/x/image/bmp"  // registers the BMP decoder
	_ "golang.org/x/image/tiff" // registers the TIFF decoder
	_ "golang.org/x/image/webp" // registers the WebP decoder
)

// RGB8 is an 8-bit RGB image with interleaved channels, row-major: Pix[(y*Width+x)*3+c].
type RGB8 struct {
	Width, Height int
	Pix           []uint8
}

// NewRGB8 allocates a black image.
func NewRGB8(w, h int) *RGB8 {
	return &RGB8{Width: w, Height: h, Pix: make([]uint8, w*h*3)}
}

// At returns the channel c of pixel (x, y).
func (m *RGB8) At(x, y, c int) uint8 { return m.Pix[(y*m.Width+x)*3+c] }

// Image converts to an image.Image (for encoding).
func (m *RGB8) Image() *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := 0; i < m.Width*m.Height; i++ {
		copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 255
	}
	return out
}

// Float is a float32 image with interleaved channels (HWC), row-major.
type Float struct {
	Width, Height, Channels int
	Pix                     []float32
}

// NewFloat allocates a zero image.
func NewFloat(w, h, c int) *Float {
	return &Float{Width: w, Height: h, Channels: c, Pix: make([]float32, w*h*c)}
}

// ToFloat converts to floats v/255 in [0, 1], as torchvision's ToTensor does (but keeping HWC order).
func (m *RGB8) ToFloat() *Float {
	out := NewFloat(m.Width, m.Height, 3)
	for i, v := range m.Pix {
		out.Pix[i] = float32(v) / 255
	}
	return out
}

// Load decodes an image file into RGB.
func Load(path string) (*RGB8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return m, nil
}

// Decode decodes any registered format into RGB.
func Decode(r io.Reader) (*RGB8, error) {
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, err
	}
	return FromImage(img), nil
}

// FromImage converts an image to RGB. JPEG-style YCbCr images with 4:4:4, 4:2:2 or 4:2:0 chroma are
// upsampled like libjpeg; other images go through their colour model; alpha is dropped without
// premultiplication, like PIL's convert("RGB").
func FromImage(img image.Image) *RGB8 {
	b := img.Bounds()
	out := NewRGB8(b.Dx(), b.Dy())
	switch src := img.(type) {
	case *image.YCbCr:
		if ycbcrFancy(src, out) {
			return out
		}
	case *image.Gray:
		for y := 0; y < out.Height; y++ {
			row := src.Pix[(y)*src.Stride : (y)*src.Stride+out.Width]
			for x, v := range row {
				o := (y*out.Width + x) * 3
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = v, v, v
			}
		}
		return out
	case *image.NRGBA:
		for y := 0; y < out.Height; y++ {
			for x := 0; x < out.Width; x++ {
				s := y*src.Stride + 4*x
				copy(out.Pix[(y*out.Width+x)*3:], src.Pix[s:s+3])
			}
		}
		return out
	}
	for y := 0; y < out.Height; y++ {
		for x := 0; x < out.Width; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			o := (y*out.Width + x) * 3
			out.Pix[o], out.Pix[o+1], out.Pix[o+2] = c.R, c.G, c.B
		}
	}
	return out
}

// CenterCropOffset is torchvision's CenterCrop offset int(round((in-out)/2)) with Python's
// round-half-to-even.
func CenterCropOffset(in, out int) int {
	return int(math.RoundToEven(float64(in-out) / 2))
}

// Crop returns the region [x0,x1)×[y0,y1); parts outside the image are black, as with PIL's crop.
func Crop(m *RGB8, x0, y0, x1, y1 int) (*RGB8, error) {
	if x1 <= x0 || y1 <= y0 {
		return nil, fmt.Errorf("empty crop box (%d,%d,%d,%d)", x0, y0, x1, y1)
	}
	out := NewRGB8(x1-x0, y1-y0)
	for y := y0; y < y1; y++ {
		if y < 0 || y >= m.Height {
			continue
		}
		for x := x0; x < x1; x++ {
			if x < 0 || x >= m.Width {
				continue
			}
			copy(out.Pix[((y-y0)*out.Width+(x-x0))*3:][:3], m.Pix[(y*m.Width+x)*3:][:3])
		}
	}
	return out, nil
}

// CenterCrop is torchvision's CenterCrop(h, w) for images at least that large.
func CenterCrop(m *RGB8, w, h int) (*RGB8, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("center crop to %dx%d", w, h)
	}
	if m.Width < w || m.Height < h {
		return nil, fmt.Errorf("center crop %dx%d of a smaller %dx%d image", w, h, m.Width, m.Height)
	}
	if m.Width == w && m.Height == h {
		return m, nil
	}
	x0, y0 := CenterCropOffset(m.Width, w), CenterCropOffset(m.Height, h)
	return Crop(m, x0, y0, x0+w, y0+h)
}

// ShorterSideSize is torchvision's output size for Resize(size): the shorter side becomes size and the
// longer int(size*long/short).
func ShorterSideSize(w, h, size int) (int, int) {
	if w <= h {
		return size, int(float64(size) * float64(h) / float64(w))
	}
	return int(float64(size) * float64(w) / float64(h)), size
}

// ResizeShorterSide is torchvision's Resize(size) on a PIL image: the identity when the size does not
// change, PIL resampling otherwise.
func ResizeShorterSide(m *RGB8, size int, f Filter) (*RGB8, error) {
	if size <= 0 {
		return nil, fmt.Errorf("resize to shorter side %d", size)
	}
	if m.Width == 0 || m.Height == 0 {
		return nil, errors.New("resize of an empty image")
	}
	w, h := ShorterSideSize(m.Width, m.Height, size)
	if w == m.Width && h == m.Height {
		return m, nil
	}
	return Resize(m, w, h, f)
}

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".tif": true, ".tiff": true, ".webp": true}

// IsImageFile reports whether name has an extension this package decodes.
func IsImageFile(name string) bool { return imageExts[strings.ToLower(filepath.Ext(name))] }

// ListImages returns the image files directly inside dir, sorted by name.
func ListImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && IsImageFile(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
