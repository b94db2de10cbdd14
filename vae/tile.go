package vae

import (
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"
)

// Tiling splits the spatial extent of a batch into tiles that are encoded or decoded one at a
// time, so that memory is bounded by the tile size, not the image size. It is measured in latent
// pixels ("cells"; one cell is f×f image pixels, f = SpatialCompression).
//
// The latent grid is cut into cores of at most Tile×Tile cells (equal sizes, ±1). Each tile runs
// the network on its core widened by Overlap cells on every side (clipped at the border) and
// keeps the core. With Blend > 0, neighbouring tiles are cross-faded over a band of Blend output
// pixels centred on each seam (the band must lie inside the widened windows: Blend/2 ≤ Overlap
// output cells).
//
// Exactness: a tile's window is computed with zero padding at its cut edges, so its outputs are
// exact only farther than the network's receptive radius from them. Convolutional blocks have a
// finite radius: with Overlap (less Blend/2) beyond it, tiled output equals the untiled output up
// to float rounding. The EfficientViT blocks' linear attention is global, so for configs that have
// them tiling is an approximation (as diffusers' tiled decoding is), good when tiles are large.
type Tiling struct {
	Tile    int // core side in latent cells; 0 disables tiling
	Overlap int // context cells decoded around each core, per side
	Blend   int // cross-fade width in output pixels at seams; 0 gives hard seams
}

// DefaultDecodeTiling is what ImageDecoder uses: 512-pixel cores (16 latent cells at f32) with
// 64 pixels of context and a 32-pixel cross-fade. At 1024×1024 it decodes four 576×576 windows.
var DefaultDecodeTiling = Tiling{Tile: 16, Overlap: 2, Blend: 32}

// ForCompression returns t with Blend reduced to what Overlap allows at compression f (in output
// pixels of a decoder), for defaults that must suit every model.
func (t Tiling) ForCompression(f int) Tiling {
	t.Blend = min(t.Blend, 2*t.Overlap*f)
	return t
}

// active reports whether tiling splits an h×w latent.
func (t Tiling) active(h, w int) bool { return t.Tile > 0 && (h > t.Tile || w > t.Tile) }

func (t Tiling) validate(f int) error {
	if t.Tile < 0 || t.Overlap < 0 || t.Blend < 0 {
		return fmt.Errorf("tiling %+v: values must be >= 0", t)
	}
	if t.Blend > 2*t.Overlap*f {
		return fmt.Errorf("tiling %+v: blend %d pixels exceeds twice the overlap (%d cells of %d pixels)", t, t.Blend, t.Overlap, f)
	}
	return nil
}

// cores splits n cells into k = ⌈n/tile⌉ nearly equal parts and returns the k+1 boundaries.
func cores(n, tile int) []int {
	k := (n + tile - 1) / tile
	b := make([]int, k+1)
	for i := range b {
		b[i] = i * n / k
	}
	return b
}

// DecodeTiled is Decode run tile by tile (see Tiling); without active tiling it is Decode.
func (m *Model) DecodeTiled(latents *tensors.Tensor, t Tiling) (*tensors.Tensor, error) {
	d := latents.Shape().Dimensions
	if len(d) != 4 {
		return nil, fmt.Errorf("DC-AE decode: latents %s: want (B, %d, h, w)", latents.Shape(), m.cfg.LatentChannels)
	}
	f := m.cfg.SpatialCompression()
	if !t.active(d[2], d[3]) {
		return m.Decode(latents)
	}
	if err := t.validate(f); err != nil {
		return nil, fmt.Errorf("DC-AE decode: %w", err)
	}
	return runTiled(latents, t, 1, f, m.cfg.InChannels, m.Decode)
}

// EncodeTiled is Encode run tile by tile (see Tiling; Blend is in latent pixels here); without
// active tiling it is Encode.
func (m *Model) EncodeTiled(images *tensors.Tensor, t Tiling) (*tensors.Tensor, error) {
	d := images.Shape().Dimensions
	f := m.cfg.SpatialCompression()
	if len(d) != 4 || d[2]%f != 0 || d[3]%f != 0 {
		return nil, fmt.Errorf("DC-AE encode: images %s: want (B, %d, H, W) with H and W multiples of %d",
			images.Shape(), m.cfg.InChannels, f)
	}
	if !t.active(d[2]/f, d[3]/f) {
		return m.Encode(images)
	}
	if err := t.validate(1); err != nil {
		return nil, fmt.Errorf("DC-AE encode: %w", err)
	}
	return runTiled(images, t, f, 1, m.cfg.LatentChannels, m.Encode)
}

// runTiled applies fn to tiles of x (B, C, H, W) whose cells are inUnit pixels of x and outUnit
// pixels of the output (B, outC, ·, ·), and assembles the cores with cross-faded seams.
func runTiled(x *tensors.Tensor, t Tiling, inUnit, outUnit, outC int, fn func(*tensors.Tensor) (*tensors.Tensor, error)) (*tensors.Tensor, error) {
	src, err := float32s(x)
	if err != nil {
		return nil, err
	}
	d := x.Shape().Dimensions
	B, C, H, W := d[0], d[1], d[2], d[3]
	ch, cw := H/inUnit, W/inUnit // cells
	OH, OW := ch*outUnit, cw*outUnit
	out := make([]float32, B*outC*OH*OW)
	rows, cols := cores(ch, t.Tile), cores(cw, t.Tile)
	half := float64(t.Blend) / 2
	// weight1D is a tile's weight at output pixel p along one axis, for a core [c0, c1) of
	// output pixels within an axis of n output pixels.
	weight1D := func(p, c0, c1, n int) float64 {
		pc := float64(p) + 0.5
		w := 1.0
		if c0 > 0 && half > 0 { // seam at c0: fade in over [c0 − half, c0 + half)
			w = min(w, max(0, min(1, (pc-(float64(c0)-half))/(2*half))))
		} else if pc < float64(c0) {
			return 0
		}
		if c1 < n && half > 0 { // seam at c1: fade out
			w = min(w, max(0, min(1, ((float64(c1)+half)-pc)/(2*half))))
		} else if pc >= float64(c1) {
			return 0
		}
		return w
	}
	for ri := 0; ri+1 < len(rows); ri++ {
		for ci := 0; ci+1 < len(cols); ci++ {
			r0, r1, c0, c1 := rows[ri], rows[ri+1], cols[ci], cols[ci+1]
			wr0, wr1 := max(0, r0-t.Overlap), min(ch, r1+t.Overlap)
			wc0, wc1 := max(0, c0-t.Overlap), min(cw, c1+t.Overlap)
			th, tw := (wr1-wr0)*inUnit, (wc1-wc0)*inUnit
			tile := make([]float32, B*C*th*tw)
			for b := range B {
				for c := range C {
					for y := range th {
						s := ((b*C+c)*H+wr0*inUnit+y)*W + wc0*inUnit
						copy(tile[((b*C+c)*th+y)*tw:][:tw], src[s:s+tw])
					}
				}
			}
			res, err := fn(tensors.FromFlatDataAndDimensions(tile, B, C, th, tw))
			if err != nil {
				return nil, fmt.Errorf("tile rows [%d, %d) columns [%d, %d): %w", wr0, wr1, wc0, wc1, err)
			}
			rd := res.Shape().Dimensions
			oth, otw := (wr1-wr0)*outUnit, (wc1-wc0)*outUnit
			if len(rd) != 4 || rd[0] != B || rd[1] != outC || rd[2] != oth || rd[3] != otw {
				return nil, fmt.Errorf("tile output %s: want (%d, %d, %d, %d)", res.Shape(), B, outC, oth, otw)
			}
			rv, err := tensors.CopyFlatData[float32](res)
			if err != nil {
				return nil, err
			}
			_ = res.FinalizeAll()
			// Output pixels this tile may touch: its core widened by the blend band.
			py0, py1 := max(wr0*outUnit, r0*outUnit-int(half)-1), min(wr1*outUnit, r1*outUnit+int(half)+1)
			px0, px1 := max(wc0*outUnit, c0*outUnit-int(half)-1), min(wc1*outUnit, c1*outUnit+int(half)+1)
			wy := make([]float64, py1-py0)
			for i := range wy {
				wy[i] = weight1D(py0+i, r0*outUnit, r1*outUnit, OH)
			}
			wx := make([]float64, px1-px0)
			for i := range wx {
				wx[i] = weight1D(px0+i, c0*outUnit, c1*outUnit, OW)
			}
			for b := range B {
				for c := range outC {
					for y := py0; y < py1; y++ {
						a := wy[y-py0]
						if a == 0 {
							continue
						}
						orow := ((b*outC+c)*OH + y) * OW
						trow := ((b*outC+c)*oth + (y - wr0*outUnit)) * otw
						for xx := px0; xx < px1; xx++ {
							if wgt := a * wx[xx-px0]; wgt != 0 {
								out[orow+xx] += float32(wgt * float64(rv[trow+xx-wc0*outUnit]))
							}
						}
					}
				}
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(out, B, outC, OH, OW), nil
}
