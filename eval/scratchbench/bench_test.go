package scratchbench

import (
	"testing"
	"time"

	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/images"
)

func im2col(x, k *Node, kh, kw, pad int) *Node {
	// x: [B,H,W,C], k: [kh,kw,C,O]
	g := x.Graph()
	zero := ScalarZero(g, x.DType())
	xp := Pad(x, zero, PadAxis{}, PadAxis{Start: pad, End: pad}, PadAxis{Start: pad, End: pad}, PadAxis{})
	H := x.Shape().Dimensions[1] + 2*pad - kh + 1
	W := x.Shape().Dimensions[2] + 2*pad - kw + 1
	var parts []*Node
	for i := 0; i < kh; i++ {
		for j := 0; j < kw; j++ {
			parts = append(parts, Slice(xp, AxisRange(), AxisRange(i, i+H), AxisRange(j, j+W), AxisRange()))
		}
	}
	p := Concatenate(parts, -1)
	C := x.Shape().Dimensions[3]
	O := k.Shape().Dimensions[3]
	kk := Reshape(k, kh*kw*C, O)
	return Einsum("bhwc,co->bhwo", p, kk)
}

func TestBench(t *testing.T) {
	be := gobackend.GetBackend()
	B, H, C, O := 4, 73, 80, 192
	x := tensors.FromShape(shapes.Make(dtypes.Float32, B, H, H, C))
	k := tensors.FromShape(shapes.Make(dtypes.Float32, 3, 3, C, O))
	flops := float64(B*71*71*O*C*9*2)
	e1, _ := NewExec(be, func(x, k *Node) *Node {
		return Convolve(x, k).ChannelsAxis(images.ChannelsLast).NoPadding().Done()
	})
	e2, _ := NewExec(be, func(x, k *Node) *Node { return im2col(x, k, 3, 3, 0) })
	for name, e := range map[string]*Exec{"conv": e1, "im2col": e2} {
		_, err := e.Call(x, k)
		if err != nil { t.Fatal(err) }
		st := time.Now()
		for i := 0; i < 3; i++ { e.Call(x, k) }
		d := time.Since(st) / 3
		t.Logf("%s: %v  %.1f GFLOP/s", name, d, flops/d.Seconds()/1e9)
	}
	xc := tensors.FromShape(shapes.Make(dtypes.Float32, B, C, H, H))
	kc := tensors.FromShape(shapes.Make(dtypes.Float32, O, C, 3, 3))
	e3, _ := NewExec(be, func(x, k *Node) *Node {
		return Convolve(x, k).ChannelsAxis(images.ChannelsFirst).NoPadding().Done()
	})
	e3.Call(xc, kc)
	st := time.Now()
	e3.Call(xc, kc)
	d := time.Since(st)
	t.Logf("convNCHW: %v  %.1f GFLOP/s", d, flops/d.Seconds()/1e9)
}
