package vae

import (
	"image"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/decode"
	"github.com/sprint-distill/sprint/internal/tensortest"
)

func newTiny(t *testing.T, c Config, parts Parts, seed uint64) *Model {
	t.Helper()
	m, err := New(testBackend(t), c, RandomParams(c, parts, seed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Finalize)
	return m
}

// TestRoundTripTiny: shapes, determinism and the scaling-factor convention on a tiny random model.
func TestRoundTripTiny(t *testing.T) {
	c := tinyConfig()
	m := newTiny(t, c, BothParts, 1)
	x := tensorOf(randVals(20, 2*3*8*12), 2, 3, 8, 12)
	// twice runs f on in twice: the output has dimensions want and is the same both times.
	twice := func(f func(*tensors.Tensor) (*tensors.Tensor, error), in *tensors.Tensor, output, step string, want ...int) *tensors.Tensor {
		t.Helper()
		out, err := f(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Shape().Dimensions; !slices.Equal(got, want) {
			t.Fatalf("%s %v, want %v", output, got, want)
		}
		again, _ := f(in)
		if d := tensortest.MaxAbsDiff(tensortest.Floats(t, out), tensortest.Floats(t, again)); d != 0 {
			t.Errorf("%s is not deterministic: %g", step, d)
		}
		return out
	}
	z := twice(m.Encode, x, "latents", "encode", 2, 4, 4, 6)
	y := twice(m.Decode, z, "decoded", "decode", 2, 3, 8, 12)
	// EncodeScaled = Encode·s; DecodeScaled(Encode·s) = Decode(Encode) up to float rounding.
	zs, err := m.EncodeScaled(x)
	if err != nil {
		t.Fatal(err)
	}
	fz, fzs := tensortest.Floats(t, z), tensortest.Floats(t, zs)
	for i := range fz {
		if fzs[i] != float64(float32(fz[i])*float32(0.5)) {
			t.Fatalf("EncodeScaled[%d] = %v, want %v·0.5", i, fzs[i], fz[i])
		}
	}
	ys, err := m.DecodeScaled(zs)
	if err != nil {
		t.Fatal(err)
	}
	if d := tensortest.MaxAbsDiff(tensortest.Floats(t, ys), tensortest.Floats(t, y)); d > 1e-6 {
		t.Errorf("DecodeScaled(EncodeScaled) differs from Decode(Encode) by %g", d)
	}
	// Bad inputs are errors, not panics.
	if _, err := m.Encode(tensorOf(randVals(1, 3*7*8), 1, 3, 7, 8)); err == nil || !strings.Contains(err.Error(), "multiples of 2") {
		t.Errorf("odd image: %v", err)
	}
	if _, err := m.Decode(tensorOf(randVals(1, 3*4*4), 1, 3, 4, 4)); err == nil || !strings.Contains(err.Error(), "(B, 4, h, w)") {
		t.Errorf("wrong latent channels: %v", err)
	}
	dec := newTiny(t, c, DecoderPart, 1)
	if _, err := dec.Encode(x); err == nil || !strings.Contains(err.Error(), "without its encoder") {
		t.Errorf("decoder-only model encodes: %v", err)
	}
}

// convOnlyConfig has no attention, so its receptive field is finite (about 5.5 latent cells,
// see TestTiledEqualsUntiled).
func convOnlyConfig() Config {
	c := tinyConfig()
	c.EncoderBlockTypes = strList{ResBlock}
	c.DecoderBlockTypes = strList{ResBlock}
	c.EncoderQKVMultiscales = [][]int{{}, {}}
	c.DecoderQKVMultiscales = [][]int{{}, {}}
	return c
}

// TestTiledEqualsUntiled: for a convolution-only model, tiles whose context exceeds the receptive
// radius reproduce the untiled output. Decoder radius in latent cells: conv_in 1 + ResBlock 2 +
// up conv 0.5 + ResBlock 1 + conv_out 0.5 = 5; encoder: 0.5 + 1 + 0.5 + 2 + 1 = 5. Overlap 6
// cells, with and without a 4-pixel cross-fade (its half-band of 2 pixels = 1 cell still leaves
// 5 cells of context). A model with attention tiled into a single tile is also exact.
func TestTiledEqualsUntiled(t *testing.T) {
	m := newTiny(t, convOnlyConfig(), BothParts, 2)
	z := tensorOf(randVals(30, 1*4*20*18), 1, 4, 20, 18)
	want, err := m.Decode(z)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range []Tiling{{Tile: 7, Overlap: 6}, {Tile: 7, Overlap: 6, Blend: 4}, {Tile: 10, Overlap: 6, Blend: 2}} {
		got, err := m.DecodeTiled(z, tl)
		if err != nil {
			t.Fatal(err)
		}
		if d := tensortest.MaxAbsDiff(tensortest.Floats(t, got), tensortest.Floats(t, want)); d > 1e-5 {
			t.Errorf("decode %+v differs from untiled by %g", tl, d)
		}
	}
	// Too little context is visibly different (the test above is not vacuous).
	got, _ := m.DecodeTiled(z, Tiling{Tile: 7, Overlap: 1})
	if d := tensortest.MaxAbsDiff(tensortest.Floats(t, got), tensortest.Floats(t, want)); d < 1e-3 {
		t.Errorf("overlap 1 matches untiled to %g: receptive field smaller than assumed?", d)
	}
	x := tensorOf(randVals(31, 2*3*36*40), 2, 3, 36, 40)
	wantZ, err := m.Encode(x)
	if err != nil {
		t.Fatal(err)
	}
	gotZ, err := m.EncodeTiled(x, Tiling{Tile: 6, Overlap: 6, Blend: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := tensortest.MaxAbsDiff(tensortest.Floats(t, gotZ), tensortest.Floats(t, wantZ)); d > 1e-5 {
		t.Errorf("encode tiled differs from untiled by %g", d)
	}
	if _, err := m.DecodeTiled(z, Tiling{Tile: 4, Overlap: 1, Blend: 8}); err == nil {
		t.Error("blend wider than the overlap accepted")
	}

	ma := newTiny(t, tinyConfig(), DecoderPart, 3)
	want, _ = ma.Decode(z)
	got, err = ma.DecodeTiled(z, Tiling{Tile: 20, Overlap: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := tensortest.MaxAbsDiff(tensortest.Floats(t, got), tensortest.Floats(t, want)); d != 0 {
		t.Errorf("single tile differs by %g", d)
	}
}

// TestImageDecoder: the decode.Decoder implementation divides by the scaling factor, decodes in
// chunks, and maps [−1, 1] to bytes as floor(255·clamp((x+1)/2) + 0.5).
func TestImageDecoder(t *testing.T) {
	c := tinyConfig()
	m := newTiny(t, c, DecoderPart, 4)
	zs := tensorOf(randVals(40, 3*4*3*5), 3, 4, 3, 5)
	var dec decode.Decoder = &ImageDecoder{Model: m, Batch: 2}
	imgs, err := dec.Decode(zs)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 3 || imgs[2].Bounds().Dx() != 10 || imgs[2].Bounds().Dy() != 6 {
		t.Fatalf("%d images of %v", len(imgs), imgs[0].Bounds())
	}
	y, err := m.DecodeScaled(zs)
	if err != nil {
		t.Fatal(err)
	}
	yf := tensortest.Floats(t, y)
	for b, im := range imgs {
		for yy := range 6 {
			for x := range 10 {
				r, g, bl, a := im.At(x, yy).RGBA()
				for ch, v := range []uint32{r, g, bl} {
					want := toByte(float32(yf[((b*3+ch)*6+yy)*10+x]))
					if uint8(v>>8) != want || a != 0xffff {
						t.Fatalf("image %d (%d,%d) channel %d: %d, want %d", b, x, yy, ch, v>>8, want)
					}
				}
			}
		}
	}
	if _, err := dec.Decode(tensorOf(randVals(1, 8), 1, 2, 2, 2)); err == nil {
		t.Error("wrong channel count accepted")
	}
}

// TestPixels: the 8-bit mapping and its inverse.
func TestPixels(t *testing.T) {
	for _, tc := range []struct {
		x    float32
		want uint8
	}{{-1, 0}, {-2, 0}, {1, 255}, {3, 255}, {0, 128}, {float32(math.NaN()), 0}, {2*100.0/255 - 1, 100}, {2*100.4/255 - 1, 100}, {2*100.6/255 - 1, 101}} {
		if got := toByte(tc.x); got != tc.want {
			t.Errorf("toByte(%v) = %d, want %d", tc.x, got, tc.want)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, color.RGBA{0, 128, 255, 255})
	img.Set(1, 0, color.RGBA{10, 20, 30, 255})
	x, err := FromImages([]image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	got := tensortest.Floats(t, x) // (1, 3, 1, 2)
	want := []float64{-1, 2*10/255.0 - 1, 2*128/255.0 - 1, 2*20/255.0 - 1, 1, 2*30/255.0 - 1}
	if d := tensortest.MaxAbsDiff(got, want); d > 1e-6 {
		t.Errorf("FromImages %v, want %v", got, want)
	}
	back, err := ToImages(x)
	if err != nil {
		t.Fatal(err)
	}
	if c := back[0].NRGBAAt(1, 0); c.R != 10 || c.G != 20 || c.B != 30 {
		t.Errorf("round trip %v", c)
	}
	if _, err := FromImages([]image.Image{img, image.NewRGBA(image.Rect(0, 0, 3, 1))}); err == nil {
		t.Error("mixed sizes accepted")
	}
	if _, err := ToImages(tensors.FromFlatDataAndDimensions([]float32{1, 2}, 1, 2, 1, 1)); err == nil {
		t.Error("2 channels accepted")
	}
}
