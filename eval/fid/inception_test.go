package fid

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/internal/testbackend"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/gmx"
	"github.com/sprint-distill/sprint/safetensors"
)

func backend(t testing.TB) compute.Backend { return testbackend.Get(t) }

var (
	randomNetOnce sync.Once
	randomNet     *Inception
	randomNetErr  error
	stageShapes   = map[string][]int{}
)

// sharedNet is one random-weight network for every test (its graph compiles once per batch size).
func sharedNet(t testing.TB) *Inception {
	t.Helper()
	randomNetOnce.Do(func() {
		var mu sync.Mutex
		randomNet, randomNetErr = newInception(backend(t), RandomWeights(1), func(stage string, n *Node) {
			mu.Lock()
			stageShapes[stage] = n.Shape().Dimensions
			mu.Unlock()
		})
	})
	if randomNetErr != nil {
		t.Fatal(randomNetErr)
	}
	return randomNet
}

func randomImage(seed uint64, size int) *imaging.Float {
	r := rand.New(rand.NewPCG(seed, 3))
	f := imaging.NewFloat(size, size, 3)
	for i := range f.Pix {
		f.Pix[i] = float32(2*r.Float64() - 1)
	}
	return f
}

func TestIntermediateShapes(t *testing.T) {
	net := sharedNet(t)
	feats, err := net.Features([]*imaging.Float{randomImage(1, InputSize), randomImage(2, InputSize)})
	if err != nil {
		t.Fatal(err)
	}
	// NHWC shapes of the reference notes' table (§1.2), for a batch of 2.
	want := map[string][]int{
		"Conv2d_1a_3x3": {2, 149, 149, 32}, "Conv2d_2a_3x3": {2, 147, 147, 32}, "Conv2d_2b_3x3": {2, 147, 147, 64},
		"MaxPool_1": {2, 73, 73, 64}, "Conv2d_3b_1x1": {2, 73, 73, 80}, "Conv2d_4a_3x3": {2, 71, 71, 192},
		"MaxPool_2": {2, 35, 35, 192}, "Mixed_5b": {2, 35, 35, 256}, "Mixed_5c": {2, 35, 35, 288},
		"Mixed_5d": {2, 35, 35, 288}, "Mixed_6a": {2, 17, 17, 768}, "Mixed_6b": {2, 17, 17, 768},
		"Mixed_6c": {2, 17, 17, 768}, "Mixed_6d": {2, 17, 17, 768}, "Mixed_6e": {2, 17, 17, 768},
		"Mixed_7a": {2, 8, 8, 1280}, "Mixed_7b": {2, 8, 8, 2048}, "Mixed_7c": {2, 8, 8, 2048}, "pool3": {2, 2048},
	}
	for stage, w := range want {
		if got := stageShapes[stage]; !slices.Equal(got, w) {
			t.Errorf("%s: shape %v, want %v", stage, got, w)
		}
	}
	if len(feats) != 2 || len(feats[0]) != FeatureDim {
		t.Fatalf("features %d x %d", len(feats), len(feats[0]))
	}
	var nonzero int
	for _, f := range feats {
		for _, v := range f {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
				t.Fatalf("feature %v: pool3 of ReLU outputs must be finite and non-negative", v)
			}
			if v > 0 {
				nonzero++
			}
		}
	}
	if nonzero < FeatureDim/4 {
		t.Fatalf("only %d non-zero features: the random network is dead", nonzero)
	}
	// Batch independence: the second image alone gives the same features.
	alone, err := net.Features([]*imaging.Float{randomImage(2, InputSize)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range alone[0] {
		if d := math.Abs(float64(alone[0][i] - feats[1][i])); d > 1e-4*(1+math.Abs(float64(alone[0][i]))) {
			t.Fatalf("feature %d differs between batch sizes: %v vs %v", i, alone[0][i], feats[1][i])
		}
	}
}

// directConvBNReLU is a plain NCHW convolution with BatchNorm and ReLU, written independently of the
// im2col graph.
func directConvBNReLU(x []float32, h, w int, u convSpec, cb *ConvBN) ([]float32, int, int) {
	oh := (h+2*u.ph-u.kh)/u.stride + 1
	ow := (w+2*u.pw-u.kw)/u.stride + 1
	out := make([]float32, u.out*oh*ow)
	for o := 0; o < u.out; o++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				var s float64
				for i := 0; i < u.in; i++ {
					for ky := 0; ky < u.kh; ky++ {
						for kx := 0; kx < u.kw; kx++ {
							iy, ix := oy*u.stride+ky-u.ph, ox*u.stride+kx-u.pw
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							s += float64(x[(i*h+iy)*w+ix]) * float64(cb.Kernel[((o*u.in+i)*u.kh+ky)*u.kw+kx])
						}
					}
				}
				v := (s-float64(cb.Mean[o]))/math.Sqrt(float64(cb.Var[o])+bnEpsilon)*float64(cb.Gamma[o]) + float64(cb.Beta[o])
				out[(o*oh+oy)*ow+ox] = float32(math.Max(v, 0))
			}
		}
	}
	return out, oh, ow
}

func TestConvUnitMatchesDirectConvolution(t *testing.T) {
	be := backend(t)
	r := rand.New(rand.NewPCG(7, 7))
	for _, u := range []convSpec{
		unit("k3s2", 3, 5, 3, 3, 2, 0, 0),
		unit("k3p1", 4, 6, 3, 3, 1, 1, 1),
		unit("k1x7", 3, 4, 1, 7, 1, 0, 3),
		unit("k7x1", 3, 4, 7, 1, 1, 3, 0),
		unit("k1", 5, 3, 1, 1, 1, 0, 0),
		unit("k5p2", 2, 3, 5, 5, 1, 2, 2),
	} {
		h, w := 9, 8
		cb := &ConvBN{Kernel: make([]float32, u.out*u.in*u.kh*u.kw)}
		for i := range cb.Kernel {
			cb.Kernel[i] = float32(r.NormFloat64())
		}
		for o := 0; o < u.out; o++ {
			cb.Gamma = append(cb.Gamma, float32(0.5+r.Float64()))
			cb.Beta = append(cb.Beta, float32(r.NormFloat64()))
			cb.Mean = append(cb.Mean, float32(r.NormFloat64()))
			cb.Var = append(cb.Var, float32(0.5+r.Float64()))
		}
		xNCHW := make([]float32, u.in*h*w)
		for i := range xNCHW {
			xNCHW[i] = float32(r.NormFloat64())
		}
		want, oh, ow := directConvBNReLU(xNCHW, h, w, u, cb)
		ws := &Weights{Units: map[string]*ConvBN{u.name: cb}}
		k, b, err := ws.fold(u)
		if err != nil {
			t.Fatal(err)
		}
		xNHWC := make([]float32, len(xNCHW))
		for i := 0; i < u.in; i++ {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					xNHWC[(y*w+x)*u.in+i] = xNCHW[(i*h+y)*w+x]
				}
			}
		}
		got, err := ExecOnce(be, func(x, k, b *Node) *Node { return convUnit(x, k, b, u) },
			mustTensor(t, xNHWC, 1, h, w, u.in), mustTensor(t, k, u.kh*u.kw*u.in, u.out), mustTensor(t, b, u.out))
		if err != nil {
			t.Fatal(err)
		}
		if dims := got.Shape().Dimensions; !slices.Equal(dims, []int{1, oh, ow, u.out}) {
			t.Fatalf("%s: shape %v want [1 %d %d %d]", u.name, dims, oh, ow, u.out)
		}
		gotFlat, _ := gmx.Float32s(got)
		for o := 0; o < u.out; o++ {
			for y := 0; y < oh; y++ {
				for x := 0; x < ow; x++ {
					g, wv := gotFlat[(y*ow+x)*u.out+o], want[(o*oh+y)*ow+x]
					if math.Abs(float64(g-wv)) > 1e-4*(1+math.Abs(float64(wv))) {
						t.Fatalf("%s: out[%d,%d,%d] = %v, direct %v", u.name, o, y, x, g, wv)
					}
				}
			}
		}
	}
}

func mustTensor(t *testing.T, data []float32, dims ...int) any {
	t.Helper()
	x, err := gmx.Tensor(data, dims...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func runPool(t *testing.T, kind poolKind, img []float32, h, w int) []float32 {
	t.Helper()
	out, err := ExecOnce(backend(t), func(x *Node) *Node { return branchPool(x, kind) }, mustTensor(t, img, 1, h, w, 1))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := gmx.Float32s(out)
	return v
}

func TestAvgPoolExcludesPadding(t *testing.T) {
	h, w := 4, 5
	ones := make([]float32, h*w)
	for i := range ones {
		ones[i] = 1
	}
	for i, v := range runPool(t, avgPoolExcludePad, ones, h, w) {
		if math.Abs(float64(v)-1) > 1e-6 {
			t.Fatalf("all-ones input gives %v at %d (4/9 or 6/9 would mean padding was counted)", v, i)
		}
	}
	ramp := make([]float32, h*w)
	for i := range ramp {
		ramp[i] = float32(i)
	}
	got := runPool(t, avgPoolExcludePad, ramp, h, w)
	// Corner (0,0): mean of {0,1,5,6} = 3. Edge (0,2): mean of {1,2,3,6,7,8} = 4.5. Centre (1,1): mean of 9.
	if got[0] != 3 || got[2] != 4.5 || got[w+1] != 6 {
		t.Fatalf("border divisors wrong: corner %v edge %v centre %v", got[0], got[2], got[w+1])
	}
}

func TestMixed7cPoolIsMax(t *testing.T) {
	h, w := 5, 5
	spike := make([]float32, h*w)
	spike[2*w+2] = 9
	got := runPool(t, maxPoolPad, spike, h, w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			want := float32(0)
			if y >= 1 && y <= 3 && x >= 1 && x <= 3 {
				want = 9 // a mean would give 1
			}
			if got[y*w+x] != want {
				t.Fatalf("spike: (%d,%d) = %v want %v", y, x, got[y*w+x], want)
			}
		}
	}
	// Padding must not win a max: with all-negative input the corner is the max of its 4 real neighbours.
	neg := make([]float32, h*w)
	for i := range neg {
		neg[i] = -float32(i + 1)
	}
	got = runPool(t, maxPoolPad, neg, h, w)
	if got[0] != -1 || got[w*h-1] != -19 {
		t.Fatalf("negative input: corners %v %v, want -1 -19", got[0], got[w*h-1])
	}
}

func TestExpectedKeysAndLoading(t *testing.T) {
	keys := ExpectedKeys()
	if len(keys) != 472 {
		t.Fatalf("%d expected keys, want 472 (94 units x 5 + fc)", len(keys))
	}
	if n := len(inceptionUnits()); n != 94 {
		t.Fatalf("%d conv units, want 94", n)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("duplicate key %s", k)
		}
		seen[k] = true
		if _, err := keyShape(k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch5x5_2.bn.running_var",
		"Mixed_6e.branch7x7dbl_5.conv.weight", "Mixed_7c.branch3x3dbl_3b.bn.bias", "Mixed_7a.branch7x7x3_4.conv.weight", "fc.bias"} {
		if !seen[k] {
			t.Errorf("missing key %s", k)
		}
	}
	if s, _ := keyShape("Mixed_6b.branch7x7_2.conv.weight"); !slices.Equal(s, []int{128, 128, 1, 7}) {
		t.Errorf("Mixed_6b.branch7x7_2 shape %v", s)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "inception.safetensors")
	w := RandomWeights(3)
	if err := w.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadWeights(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Units["Mixed_7c.branch_pool"].Var[5] != w.Units["Mixed_7c.branch_pool"].Var[5] ||
		got.Units["Conv2d_1a_3x3"].Kernel[100] != w.Units["Conv2d_1a_3x3"].Kernel[100] {
		t.Fatal("loaded values differ")
	}
	if _, err := LoadWeights(filepath.Join(dir, "nope.safetensors")); err == nil || !strings.Contains(err.Error(), "pt_inception-2015-12-05") {
		t.Fatalf("missing file error should say where to get the weights: %v", err)
	}

	// pytorch-fid's InceptionV3 wrapper names (blocks.N.M...) load too; a missing tensor is named.
	src, _ := safetensors.Open(path)
	var renamed []safetensors.Float32Tensor
	for _, name := range src.Names() {
		data, shape, _ := src.Float32(name)
		if name == "Mixed_6c.branch7x7_2.bn.running_mean" || strings.HasPrefix(name, "fc.") {
			continue
		}
		for to, from := range wrapperPrefixes {
			if strings.HasPrefix(name, from+".") {
				name = to + name[len(from):]
			}
		}
		renamed = append(renamed, safetensors.Float32Tensor{Name: name, Shape: shape, Data: data})
	}
	src.Close()
	wrapped := filepath.Join(dir, "wrapped.safetensors")
	if err := safetensors.WriteFloat32File(wrapped, renamed); err != nil {
		t.Fatal(err)
	}
	_, err = LoadWeights(wrapped)
	if err == nil || !strings.Contains(err.Error(), "Mixed_6c.branch7x7_2.bn.running_mean") || strings.Contains(err.Error(), "fc.") {
		t.Fatalf("missing key error: %v", err)
	}
	renamed = append(renamed, safetensors.Float32Tensor{Name: "blocks.2.5.branch7x7_2.bn.running_mean", Shape: []int{160}, Data: make([]float32, 160)})
	safetensors.WriteFloat32File(wrapped, renamed)
	if got, err := LoadWeights(wrapped); err != nil || got.Units["Mixed_7c.branch_pool"].Var[5] != w.Units["Mixed_7c.branch_pool"].Var[5] {
		t.Fatalf("wrapper names: %v", err)
	}
}

func TestPreprocess(t *testing.T) {
	img := imaging.NewRGB8(40, 30)
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	f, err := Preprocess(img, 16)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != InputSize || f.Height != InputSize {
		t.Fatalf("size %dx%d", f.Width, f.Height)
	}
	for _, v := range f.Pix {
		if v != 1 {
			t.Fatalf("white should map to 1, got %v", v)
		}
	}
}
