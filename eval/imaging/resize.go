package imaging

import (
	"fmt"
	"math"
)

// Filter selects a PIL resampling kernel.
type Filter int

const (
	// Bilinear is PIL's BILINEAR (triangle, support 1), torchvision's default.
	Bilinear Filter = iota
	// Bicubic is PIL's BICUBIC (Keys cubic with a = -0.5, support 2), used by CLIP.
	Bicubic
)

func (f Filter) support() float64 {
	if f == Bicubic {
		return 2
	}
	return 1
}

func (f Filter) weight(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if f == Bicubic {
		const a = -0.5
		if x < 1 {
			return ((a+2)*x-(a+3))*x*x + 1
		}
		if x < 2 {
			return (((x-5)*x+8)*x - 4) * a
		}
		return 0
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// precisionBits is PIL's fixed-point precision for 8-bit resampling.
const precisionBits = 32 - 8 - 2

// coefficients computes, for each output position, the first source index, the number of taps and the
// fixed-point weights of PIL's antialiased resampling of inSize samples into outSize.
func coefficients(inSize, outSize int, f Filter) (first, count []int, weights [][]int32) {
	scale := float64(inSize) / float64(outSize)
	filterScale := math.Max(scale, 1)
	support := f.support() * filterScale
	first, count, weights = make([]int, outSize), make([]int, outSize), make([][]int32, outSize)
	k := make([]float64, int(math.Ceil(support))*2+1)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		n := xmax - xmin
		var sum float64
		for x := 0; x < n; x++ {
			w := f.weight((float64(x+xmin) - center + 0.5) / filterScale)
			k[x] = w
			sum += w
		}
		fixed := make([]int32, n)
		for x := 0; x < n; x++ {
			w := k[x]
			if sum != 0 {
				w /= sum
			}
			if w < 0 {
				fixed[x] = int32(-0.5 + w*(1<<precisionBits))
			} else {
				fixed[x] = int32(0.5 + w*(1<<precisionBits))
			}
		}
		first[xx], count[xx], weights[xx] = xmin, n, fixed
	}
	return first, count, weights
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Resize resamples to w×h exactly as PIL's Image.resize does for RGB images with BILINEAR or BICUBIC:
// separable, horizontal pass first, each pass rounded to 8 bits.
func Resize(m *RGB8, w, h int, f Filter) (*RGB8, error) {
	if w <= 0 || h <= 0 || m.Width <= 0 || m.Height <= 0 {
		return nil, fmt.Errorf("resize %dx%d to %dx%d", m.Width, m.Height, w, h)
	}
	if w == m.Width && h == m.Height {
		out := NewRGB8(w, h)
		copy(out.Pix, m.Pix)
		return out, nil
	}
	const half = int32(1) << (precisionBits - 1)
	vFirst, vCount, vWeights := coefficients(m.Height, h, f)
	src := m
	if w != m.Width {
		// Horizontal pass over the source rows the vertical pass will read.
		yFirst := vFirst[0]
		yLast := vFirst[h-1] + vCount[h-1]
		if h == m.Height {
			yFirst, yLast = 0, m.Height
		}
		hFirst, hCount, hWeights := coefficients(m.Width, w, f)
		tmp := NewRGB8(w, yLast-yFirst)
		for y := yFirst; y < yLast; y++ {
			row := m.Pix[y*m.Width*3:]
			orow := tmp.Pix[(y-yFirst)*w*3:]
			for xx := 0; xx < w; xx++ {
				s0, s1, s2 := half, half, half
				x0 := hFirst[xx]
				for i, k := range hWeights[xx][:hCount[xx]] {
					p := row[(x0+i)*3:]
					s0 += int32(p[0]) * k
					s1 += int32(p[1]) * k
					s2 += int32(p[2]) * k
				}
				orow[xx*3], orow[xx*3+1], orow[xx*3+2] = clip8(s0), clip8(s1), clip8(s2)
			}
		}
		src = tmp
		for i := range vFirst {
			vFirst[i] -= yFirst
		}
	}
	if h == m.Height {
		return src, nil
	}
	out := NewRGB8(w, h)
	stride := w * 3
	for yy := 0; yy < h; yy++ {
		y0 := vFirst[yy]
		ks := vWeights[yy][:vCount[yy]]
		orow := out.Pix[yy*stride:]
		for x := 0; x < stride; x++ {
			s := half
			for i, k := range ks {
				s += int32(src.Pix[(y0+i)*stride+x]) * k
			}
			orow[x] = clip8(s)
		}
	}
	return out, nil
}

// ResizeBilinearNoAA is PyTorch's F.interpolate(mode="bilinear", align_corners=False, antialias=False)
// on a float image: source coordinate s = (d+0.5)·in/out − 0.5 clamped at 0, upper neighbour clamped to
// in−1, computed in float32 as PyTorch does on CPU.
func ResizeBilinearNoAA(m *Float, w, h int) (*Float, error) {
	if w <= 0 || h <= 0 || m.Width <= 0 || m.Height <= 0 {
		return nil, fmt.Errorf("resize %dx%d to %dx%d", m.Width, m.Height, w, h)
	}
	if w == m.Width && h == m.Height {
		out := NewFloat(w, h, m.Channels)
		copy(out.Pix, m.Pix)
		return out, nil
	}
	x0, x1, xl := linearTaps(m.Width, w)
	y0, y1, yl := linearTaps(m.Height, h)
	c := m.Channels
	out := NewFloat(w, h, c)
	for oy := 0; oy < h; oy++ {
		r0 := m.Pix[y0[oy]*m.Width*c:]
		r1 := m.Pix[y1[oy]*m.Width*c:]
		ly := yl[oy]
		for ox := 0; ox < w; ox++ {
			lx := xl[ox]
			a, b := x0[ox]*c, x1[ox]*c
			for ch := 0; ch < c; ch++ {
				top := float32(float32(1-lx)*r0[a+ch]) + float32(lx*r0[b+ch])
				bot := float32(float32(1-lx)*r1[a+ch]) + float32(lx*r1[b+ch])
				out.Pix[(oy*w+ox)*c+ch] = float32(float32(1-ly)*top) + float32(ly*bot)
			}
		}
	}
	return out, nil
}

func linearTaps(in, out int) (lo, hi []int, lambda []float32) {
	scale := float32(in) / float32(out)
	lo, hi, lambda = make([]int, out), make([]int, out), make([]float32, out)
	for d := 0; d < out; d++ {
		s := float32(scale*float32(float32(d)+0.5)) - 0.5
		if s < 0 {
			s = 0
		}
		i := int(s)
		l := s - float32(i)
		if l > 1 {
			l = 1
		}
		j := i
		if i < in-1 {
			j = i + 1
		}
		lo[d], hi[d], lambda[d] = i, j, l
	}
	return lo, hi, lambda
}
