package shapes

import (
	"image"
	"math"
)

// FeatureDim is the length of Features' vectors for any image size divisible by FeatureGrid.
const FeatureDim = 3*FeatureGrid*FeatureGrid + (len(paletteSlots)) + FeatureGrid*FeatureGrid

// FeatureGrid is the side of the pooling grid of Features.
const FeatureGrid = 4

// paletteSlots are the colour classes whose pixel fractions are features: background + palette.
var paletteSlots = [5]int{-1, 0, 1, 2, 3}

// Features maps an image to a fixed, weight-free feature vector in which a Fréchet distance
// between image sets is meaningful for the shapes data (the role Inception's pool features play
// for natural images):
//   - RGB in [0, 1] average-pooled to a FeatureGrid x FeatureGrid grid (where colour sits);
//   - the fraction of pixels of each colour class (background and the palette, by Detector's rule);
//   - the mean gradient magnitude (|dx| + |dy| of luminance) pooled on the same grid (edges: how
//     sharp and how shaped the objects are).
func (d Detector) Features(img image.Image) []float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	f := make([]float64, FeatureDim)
	lum := make([]float64, w*h)
	cells := make([]float64, FeatureGrid*FeatureGrid)
	colorOff := 3 * FeatureGrid * FeatureGrid
	gradOff := colorOff + len(paletteSlots)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			r8, g8, b8 := uint8(r>>8), uint8(g>>8), uint8(bl>>8)
			c := (y*FeatureGrid/h)*FeatureGrid + x*FeatureGrid/w
			cells[c]++
			f[3*c] += float64(r8) / 255
			f[3*c+1] += float64(g8) / 255
			f[3*c+2] += float64(b8) / 255
			f[colorOff+d.label(r8, g8, b8)+1]++
			lum[y*w+x] = (0.299*float64(r8) + 0.587*float64(g8) + 0.114*float64(b8)) / 255
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var gx, gy float64
			if x+1 < w {
				gx = math.Abs(lum[y*w+x+1] - lum[y*w+x])
			}
			if y+1 < h {
				gy = math.Abs(lum[(y+1)*w+x] - lum[y*w+x])
			}
			f[gradOff+(y*FeatureGrid/h)*FeatureGrid+x*FeatureGrid/w] += gx + gy
		}
	}
	for c, n := range cells {
		if n == 0 {
			continue
		}
		f[3*c] /= n
		f[3*c+1] /= n
		f[3*c+2] /= n
		f[gradOff+c] /= n
	}
	for i := range paletteSlots {
		f[colorOff+i] /= float64(w * h)
	}
	return f
}
