package shapes

import (
	"image"
	"sort"

	"github.com/sprint-distill/sprint/data"
)

// Detection is one object the detector found.
type Detection struct {
	Shape  string  // data.ShapeCircle, ShapeSquare or ShapeTriangle
	Color  string  // a data.Palette name
	Box    [4]int  // pixel bounding box of the component, [x0, y0, x1, y1)
	Pixels int     // pixels in the connected component
	IoU    float64 // overlap of the component with the rendered best-matching shape (1 on clean renders)
}

// Center is the centre of the detection's box.
func (d Detection) Center() (x, y float64) {
	return float64(d.Box[0]+d.Box[2]) / 2, float64(d.Box[1]+d.Box[3]) / 2
}

// Detector finds the palette-coloured objects of a shapes image. On images rendered by
// data.RenderScene it is exact: every object is found with its shape, colour and box.
type Detector struct {
	// MaxColorDist is the largest RGB Euclidean distance at which a pixel is given a palette colour;
	// farther pixels are background. Default 128 (palette colours are at least 255 apart).
	MaxColorDist float64
	// MinPixels drops components smaller than this (speckles of a generated image). Default 3.
	MinPixels int
}

// DefaultDetector returns the detector the demo's metrics use.
func DefaultDetector() Detector { return Detector{MaxColorDist: 128, MinPixels: 3} }

// label returns the palette index of the colour nearest to (r, g, b), or -1 for background.
func (d Detector) label(r, g, b uint8) int {
	best, bestD := -1, d.MaxColorDist*d.MaxColorDist
	bg := data.Background
	if dist2(r, g, b, bg.R, bg.G, bg.B) <= bestD {
		best, bestD = -1, dist2(r, g, b, bg.R, bg.G, bg.B)
	}
	for i, p := range data.Palette {
		if dd := dist2(r, g, b, p.RGB.R, p.RGB.G, p.RGB.B); dd < bestD {
			best, bestD = i, dd
		}
	}
	return best
}

func dist2(r, g, b, r2, g2, b2 uint8) float64 {
	dr, dg, db := float64(r)-float64(r2), float64(g)-float64(g2), float64(b)-float64(b2)
	return dr*dr + dg*dg + db*db
}

// Detect labels every pixel with its nearest palette colour (or background), splits each colour
// into 4-connected components, and classifies each component's shape by the rendered shape that
// overlaps it best (intersection over union against data.Object.Covers in the component's box).
// Detections are sorted by (y, x) of their box.
func (d Detector) Detect(img image.Image) []Detection {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	labels := make([]int, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			labels[y*w+x] = d.label(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
		}
	}
	seen := make([]bool, w*h)
	var out []Detection
	stack := make([]int, 0, 64)
	for start := range labels {
		if labels[start] < 0 || seen[start] {
			continue
		}
		lab := labels[start]
		// Flood fill one component.
		var members []int
		stack = append(stack[:0], start)
		seen[start] = true
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			members = append(members, p)
			px, py := p%w, p/w
			for _, q := range [4][2]int{{px - 1, py}, {px + 1, py}, {px, py - 1}, {px, py + 1}} {
				if q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h {
					continue
				}
				qi := q[1]*w + q[0]
				if !seen[qi] && labels[qi] == lab {
					seen[qi] = true
					stack = append(stack, qi)
				}
			}
		}
		if len(members) < d.MinPixels {
			continue
		}
		out = append(out, classify(members, w, data.Palette[lab].Name))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Box[1] != out[j].Box[1] {
			return out[i].Box[1] < out[j].Box[1]
		}
		return out[i].Box[0] < out[j].Box[0]
	})
	return out
}

// classify finds the shape whose rendering in the component's square box overlaps the component
// best. The box is the component's bounding box widened to a square of side max(w, h), anchored at
// the bottom edge and centred horizontally: a rendered triangle's apex row can be empty, so its
// pixels span one row less than its box, while its base spans the full width.
func classify(members []int, w int, color string) Detection {
	x0, y0, x1, y1 := 1<<30, 1<<30, -1, -1
	in := make(map[int]bool, len(members))
	for _, p := range members {
		x, y := p%w, p/w
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
		in[p] = true
	}
	side := max(x1-x0, y1-y0)
	bx0 := x0 - (side-(x1-x0))/2
	box := [4]int{bx0, y1 - side, bx0 + side, y1}
	det := Detection{Color: color, Box: [4]int{x0, y0, x1, y1}, Pixels: len(members)}
	for _, shape := range data.ShapeClasses {
		o := data.Object{Shape: shape, Color: color, Box: box}
		inter, union := 0, 0
		for y := min(box[1], y0); y < max(box[3], y1); y++ {
			for x := min(box[0], x0); x < max(box[2], x1); x++ {
				a := x >= 0 && x < w && in[y*w+x]
				r := o.Covers(x, y)
				if a && r {
					inter++
				}
				if a || r {
					union++
				}
			}
		}
		if iou := float64(inter) / float64(max(union, 1)); iou > det.IoU {
			det.Shape, det.IoU = shape, iou
		}
	}
	return det
}
