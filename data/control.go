package data

// Control latents: the optional "control" column of a ControlNet dataset.
//
// A row's control latent is the conditioning a ControlNet reads (in diffusers' SANA ControlNet
// pipeline, the VAE encoding of the control image times the VAE scale): C*H*W values laid out
// (C, H, W) like the latent, in the latent's dtype and shape, because the ControlNet embeds it
// with the transformer's own patch embedding. A shard has the column or not (the schema says
// so: Layout.Control); every row of a shard that has it must hold a value (null is an error),
// and all shards of a dataset agree. The column sits after meta:
//
//	control         binary (same choices as latent),  C*H*W values, row-major (C, H, W), in the latent
//	                optional                          dtype; present in all shards of a dataset or none
//
// For the shapes dataset (data.shapes.control: "outline") the control latent is the latent of
// the scene's outline image (ControlImage): every object's boundary pixels in white on the
// background, i.e. where each requested shape is and what its outline looks like, but not its
// colour.

import (
	"fmt"
	"image"
	"image/color"

	"github.com/apache/arrow/go/v17/arrow"
)

// ControlBytes is the stored size in bytes of one row's control latent (0 without control).
func (l Layout) ControlBytes() int {
	if !l.Control {
		return 0
	}
	return l.LatentBytes()
}

func (l Layout) controlString() string {
	if !l.Control {
		return ""
	}
	return " control"
}

func (l Layout) controlPhrase() string {
	if l.Control {
		return "has control latents"
	}
	return "has no control latents"
}

// withControlField appends the control column's field when the layout has it.
func withControlField(l Layout, fields []arrow.Field) []arrow.Field {
	if l.Control {
		fields = append(fields, arrow.Field{Name: ColControl, Type: arrow.BinaryTypes.Binary, Nullable: true})
	}
	return fields
}

// checkControl validates the row's control latent, when it has one: the latent's size, finite.
func (r *Row) checkControl() error {
	if r.Control == nil {
		return nil
	}
	if len(r.Control) != len(r.Latent) {
		return fmt.Errorf("key %q: control has %d values, want %d (the latent's shape %v)", r.Key, len(r.Control), len(r.Latent), r.LatentShape)
	}
	if i := firstNonFiniteFloat32(r.Control); i >= 0 {
		return fmt.Errorf("key %q: control element %d is %v, want finite values", r.Key, i, r.Control[i])
	}
	return nil
}

func controlMismatch(datasetHasControl bool) string {
	if datasetHasControl {
		return "has no control latent, but the dataset's first row has one (all rows or none)"
	}
	return "has a control latent, but the dataset's first row has none (all rows or none)"
}

// Shapes control maps.

// ShapesControlOutline is the shapes dataset's control map (data.shapes.control): the objects'
// outlines.
const ShapesControlOutline = "outline"

// ControlColor is the colour of the outline pixels of a shapes control image.
var ControlColor = color.RGBA{255, 255, 255, 255}

// ControlImage renders the control map of a scene: a Background canvas of the scene's size on
// which every boundary pixel of every object is ControlColor. A pixel is on an object's
// boundary when the object covers it (Object.Covers, the renderer's own rule) and does not
// cover one of its four neighbours (or the neighbour is outside the image): the exact outline
// of the rendered shape, one pixel wide, whatever its colour.
func ControlImage(s Scene) (*image.RGBA, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, s.Size, s.Size))
	for i := range img.Pix {
		img.Pix[i] = [4]uint8{Background.R, Background.G, Background.B, Background.A}[i%4]
	}
	for _, o := range s.Objects {
		for y := max(o.Box[1], 0); y < min(o.Box[3], s.Size); y++ {
			for x := max(o.Box[0], 0); x < min(o.Box[2], s.Size); x++ {
				if !o.Covers(x, y) {
					continue
				}
				edge := false
				for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
					nx, ny := x+d[0], y+d[1]
					if nx < 0 || ny < 0 || nx >= s.Size || ny >= s.Size || !o.Covers(nx, ny) {
						edge = true
						break
					}
				}
				if edge {
					img.SetRGBA(x, y, ControlColor)
				}
			}
		}
	}
	return img, nil
}

// ShapesControlLatent is the control latent of a scene: EncodeLatentFlat of its ControlImage
// with the dataset's patch, so it has the shape of the image latents.
func ShapesControlLatent(s Scene, patch int) ([]float32, [3]int, error) {
	img, err := ControlImage(s)
	if err != nil {
		return nil, [3]int{}, err
	}
	return EncodeLatentFlat(img, patch)
}
