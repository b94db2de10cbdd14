package imaging

import "image"

// libjpeg's YCbCr->RGB conversion tables (jdcolor.c arithmetic: 16-bit fixed point, ONE_HALF rounding).
var crR, cbB, crG, cbG [256]int32

func init() {
	const scaleBits = 16
	const oneHalf = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + oneHalf) >> scaleBits
		cbB[i] = (fix(1.77200)*x + oneHalf) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + oneHalf
	}
}

func clampU8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ycbcrFancy converts src into out with libjpeg's default ("fancy") chroma upsampling. It returns false
// for subsampling ratios it does not handle.
func ycbcrFancy(src *image.YCbCr, out *RGB8) bool {
	w, h := out.Width, out.Height
	if w == 0 || h == 0 {
		return true
	}
	var hs, vs int
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	default:
		return false
	}
	if src.Rect.Min != (image.Point{}) {
		return false // sub-images: use the generic conversion
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	// Upsample each chroma plane to full resolution.
	up := func(plane []uint8) []uint8 {
		full := make([]uint8, w*h)
		at := func(cx, cy int) int32 {
			if cx < 0 {
				cx = 0
			} else if cx >= cw {
				cx = cw - 1
			}
			if cy < 0 {
				cy = 0
			} else if cy >= ch {
				cy = ch - 1
			}
			return int32(plane[cy*src.CStride+cx])
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var v int32
				switch {
				case hs == 1 && vs == 1:
					v = at(x, y)
				case vs == 1: // h2v1: triangle filter along x only.
					cx := x / 2
					if x%2 == 0 {
						if cx == 0 {
							v = at(0, y)
						} else {
							v = (3*at(cx, y) + at(cx-1, y) + 1) >> 2
						}
					} else {
						if cx == cw-1 {
							v = at(cx, y)
						} else {
							v = (3*at(cx, y) + at(cx+1, y) + 2) >> 2
						}
					}
				default: // h2v2: 3:1 vertical blend, then 3:1 horizontal blend of the column sums.
					cx, cy := x/2, y/2
					ny := cy - 1 // the other chroma row: above for even rows, below for odd ones.
					if y%2 == 1 {
						ny = cy + 1
					}
					col := func(c int) int32 { return 3*at(c, cy) + at(c, ny) }
					this := col(cx)
					if x%2 == 0 {
						if cx == 0 {
							v = (this*4 + 8) >> 4
						} else {
							v = (this*3 + col(cx-1) + 8) >> 4
						}
					} else {
						if cx == cw-1 {
							v = (this*4 + 7) >> 4
						} else {
							v = (this*3 + col(cx+1) + 7) >> 4
						}
					}
				}
				full[y*w+x] = uint8(v)
			}
		}
		return full
	}
	cb, cr := up(src.Cb), up(src.Cr)
	for y := 0; y < h; y++ {
		yrow := src.Y[y*src.YStride:]
		for x := 0; x < w; x++ {
			yy := int32(yrow[x])
			b, r := cb[y*w+x], cr[y*w+x]
			o := (y*w + x) * 3
			out.Pix[o] = clampU8(yy + crR[r])
			out.Pix[o+1] = clampU8(yy + ((cbG[b] + crG[r]) >> 16))
			out.Pix[o+2] = clampU8(yy + cbB[b])
		}
	}
	return true
}
