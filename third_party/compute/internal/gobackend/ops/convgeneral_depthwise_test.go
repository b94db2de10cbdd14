package ops_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// depthwiseReference is a naive channels-last 2-D depthwise convolution: input [b, h, w, c],
// kernel [kh, kw, 1, c], zero padding (top, left) and output size (oh, ow).
func depthwiseReference(in, k []float64, b, h, w, c, kh, kw, top, left, oh, ow int) []float64 {
	out := make([]float64, b*oh*ow*c)
	for n := range b {
		for y := range oh {
			for x := range ow {
				for ch := range c {
					s := 0.0
					for i := range kh {
						for j := range kw {
							iy, ix := y-top+i, x-left+j
							if iy < 0 || ix < 0 || iy >= h || ix >= w {
								continue
							}
							s += in[((n*h+iy)*w+ix)*c+ch] * k[(i*kw+j)*c+ch]
						}
					}
					out[((n*oh+y)*ow+x)*c+ch] = s
				}
			}
		}
	}
	return out
}

// TestConvGeneralDepthwise checks the depthwise fast path (channels last, unit strides, no
// dilation) against a naive convolution: kernel sizes, symmetric, asymmetric and negative
// paddings, channel counts that are and are not multiples of the vector width, float32 and
// float64, and a size large enough to run on several workers.
func TestConvGeneralDepthwise(t *testing.T) {
	cases := []struct {
		b, h, w, c, kh, kw int
		pads               [2][2]int
	}{
		{2, 5, 4, 7, 3, 3, [2][2]int{{1, 1}, {1, 1}}},
		{1, 6, 6, 40, 3, 3, [2][2]int{{1, 1}, {1, 1}}},
		{2, 4, 7, 16, 1, 1, [2][2]int{{0, 0}, {0, 0}}},
		{1, 5, 5, 3, 5, 3, [2][2]int{{2, 0}, {0, 2}}},    // asymmetric
		{1, 6, 5, 17, 3, 3, [2][2]int{{-1, 0}, {1, -1}}}, // negative: crops
		{2, 3, 3, 1, 3, 3, [2][2]int{{2, 2}, {2, 2}}},    // output larger than the input
		{16, 16, 16, 96, 3, 3, [2][2]int{{1, 1}, {1, 1}}},
	}
	for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s_%v", dtype, tc), func(t *testing.T) {
				oh := tc.h + tc.pads[0][0] + tc.pads[0][1] - tc.kh + 1
				ow := tc.w + tc.pads[1][0] + tc.pads[1][1] - tc.kw + 1
				in := make([]float64, tc.b*tc.h*tc.w*tc.c)
				for i := range in {
					in[i] = float64((i*37+11)%23)/11 - 1
				}
				k := make([]float64, tc.kh*tc.kw*tc.c)
				for i := range k {
					k[i] = float64((i*13+5)%17)/8 - 1
				}
				want := depthwiseReference(in, k, tc.b, tc.h, tc.w, tc.c, tc.kh, tc.kw, tc.pads[0][0], tc.pads[1][0], oh, ow)

				builder := backend.Builder("depthwise")
				f := builder.Main()
				x, err := f.Parameter("x", shapes.Make(dtype, tc.b, tc.h, tc.w, tc.c), nil)
				if err != nil {
					t.Fatal(err)
				}
				kp, err := f.Parameter("k", shapes.Make(dtype, tc.kh, tc.kw, 1, tc.c), nil)
				if err != nil {
					t.Fatal(err)
				}
				axes := compute.ConvolveAxesConfig{
					InputBatch: 0, InputSpatial: []int{1, 2}, InputChannels: 3,
					KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
					OutputBatch: 0, OutputSpatial: []int{1, 2}, OutputChannels: 3,
				}
				y, err := f.ConvGeneral(x, kp, axes, nil, [][2]int{tc.pads[0], tc.pads[1]}, nil, nil, tc.c, 1)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Return([]compute.Value{y}, nil); err != nil {
					t.Fatal(err)
				}
				exec, err := builder.Compile()
				if err != nil {
					t.Fatal(err)
				}
				toFlat := func(v []float64) any {
					if dtype == dtypes.Float64 {
						return v
					}
					out := make([]float32, len(v))
					for i, x := range v {
						out[i] = float32(x)
					}
					return out
				}
				outs, err := exec.Execute([]compute.Buffer{
					makeBuffer(t, shapes.Make(dtype, tc.b, tc.h, tc.w, tc.c), toFlat(in)),
					makeBuffer(t, shapes.Make(dtype, tc.kh, tc.kw, 1, tc.c), toFlat(k)),
				}, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float64, len(want))
				if dtype == dtypes.Float64 {
					if err := outs[0].ToFlatData(got); err != nil {
						t.Fatal(err)
					}
				} else {
					g32 := make([]float32, len(want))
					if err := outs[0].ToFlatData(g32); err != nil {
						t.Fatal(err)
					}
					for i, v := range g32 {
						got[i] = float64(v)
					}
				}
				for i := range want {
					if math.Abs(got[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) {
						t.Fatalf("output %d: got %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}
