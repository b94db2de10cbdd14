package fid

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph code reads best with the ops unqualified.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/gmx"
)

// poolKind selects the branch-pool of an Inception block.
type poolKind int

const (
	// avgPoolExcludePad is avg_pool2d(3, stride 1, pad 1, count_include_pad=False): the FID variants
	// of blocks A, C and E_1.
	avgPoolExcludePad poolKind = iota
	// maxPoolPad is max_pool2d(3, stride 1, pad 1): the FID Mixed_7c (E_2) block.
	maxPoolPad
)

// inceptionNet builds the graph of the FID Inception on x [B, H, W, 3] (values in [-1, 1]) and returns
// the [B, 2048] pool3 features. tap, when not nil, sees the output of every stage.
type inceptionNet struct {
	units map[string]convSpec
	param func(name string) *Node
	tap   func(stage string, n *Node)
}

func (net *inceptionNet) conv(x *Node, name string) *Node {
	u, ok := net.units[name]
	if !ok {
		panic(fmt.Errorf("FID Inception: no unit %q", name))
	}
	return convUnit(x, net.param(name+".kernel"), net.param(name+".bias"), u)
}

// convUnit is conv2d (as im2col + one matrix product, far faster than a direct convolution on the Go
// backend) with a folded BatchNorm bias, then ReLU. x is NHWC; kernel is [kh*kw*in, out].
func convUnit(x, kernel, bias *Node, u convSpec) *Node {
	g := x.Graph()
	if u.ph > 0 || u.pw > 0 {
		zero := ScalarZero(g, x.DType())
		x = Pad(x, zero, PadAxis{}, PadAxis{Start: u.ph, End: u.ph}, PadAxis{Start: u.pw, End: u.pw}, PadAxis{})
	}
	dims := x.Shape().Dimensions
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	oh := (h-u.kh)/u.stride + 1
	ow := (w-u.kw)/u.stride + 1
	if oh <= 0 || ow <= 0 {
		panic(fmt.Errorf("FID Inception: input %dx%d too small for unit %s", h, w, u.name))
	}
	patches := x
	if u.kh != 1 || u.kw != 1 || u.stride != 1 {
		// im2col as one gather: for output pixel (b, oy, ox) and kernel row ky, the kw taps
		// x[b, oy·s+ky, ox·s .. ox·s+kw−1, :] are kw·c contiguous values of the flattened input.
		start := make([]int32, 0, b*oh*ow*u.kh)
		for bi := 0; bi < b; bi++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					for ky := 0; ky < u.kh; ky++ {
						start = append(start, int32(((bi*h+oy*u.stride+ky)*w+ox*u.stride)*c))
					}
				}
			}
		}
		starts := Const(g, tensors.FromFlatDataAndDimensions(start, b*oh*ow, u.kh, 1))
		patches = GatherSlices(Reshape(x, b*h*w*c), []int{0}, starts, []int{u.kw * c}, true)
	}
	flat := Reshape(patches, b*oh*ow, u.kh*u.kw*c)
	y := MatMul(flat, kernel)
	y = Add(y, Reshape(bias, 1, u.out))
	y = Max(y, ScalarZero(g, y.DType()))
	return Reshape(y, b, oh, ow, u.out)
}

// windows3x3 gathers the 3×3 windows of x [B, H, W, C] (already padded) at the given stride into
// [B·OH·OW, 9, C]: each window row is 3·C contiguous values, so the gather copies whole runs.
func windows3x3(x *Node, stride int) (*Node, []int) {
	dims := x.Shape().Dimensions
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	oh, ow := (h-3)/stride+1, (w-3)/stride+1
	start := make([]int32, 0, b*oh*ow*3)
	for bi := 0; bi < b; bi++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for ky := 0; ky < 3; ky++ {
					start = append(start, int32(((bi*h+oy*stride+ky)*w+ox*stride)*c))
				}
			}
		}
	}
	starts := Const(x.Graph(), tensors.FromFlatDataAndDimensions(start, b*oh*ow, 3, 1))
	win := GatherSlices(Reshape(x, b*h*w*c), []int{0}, starts, []int{3 * c}, true)
	return Reshape(win, b*oh*ow, 9, c), []int{b, oh, ow, c}
}

// maxPool3s2 is max_pool2d(kernel 3, stride 2) without padding.
func maxPool3s2(x *Node) *Node {
	win, dims := windows3x3(x, 2)
	return Reshape(ReduceMax(win, 1), dims...)
}

// branchPool is the 3x3 stride-1 pad-1 pooling of a branch_pool.
func branchPool(x *Node, kind poolKind) *Node {
	g := x.Graph()
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	pad := []PadAxis{{}, {Start: 1, End: 1}, {Start: 1, End: 1}, {}}
	if kind == maxPoolPad {
		// Padding with the lowest value never wins a max, as in PyTorch's max_pool2d.
		win, out := windows3x3(Pad(x, Scalar(g, x.DType(), -math.MaxFloat32), pad...), 1)
		return Reshape(ReduceMax(win, 1), out...)
	}
	win, out := windows3x3(Pad(x, ScalarZero(g, x.DType()), pad...), 1)
	sum := Reshape(ReduceSum(win, 1), out...)
	// count_include_pad=False: divide by the number of real pixels under each window.
	count := make([]float32, h*w)
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			count[y*w+xx] = float32(taps(y, h) * taps(xx, w))
		}
	}
	return Div(sum, Const(g, tensors.FromFlatDataAndDimensions(count, 1, h, w, 1)))
}

// taps is how many of i-1, i, i+1 lie in [0, n).
func taps(i, n int) int {
	c := 1
	if i > 0 {
		c++
	}
	if i < n-1 {
		c++
	}
	return c
}

func (net *inceptionNet) stage(name string, x *Node) *Node {
	if net.tap != nil {
		net.tap(name, x)
	}
	return x
}

func (net *inceptionNet) blockA(p string, x *Node) *Node {
	b1 := net.conv(x, p+".branch1x1")
	b5 := net.conv(net.conv(x, p+".branch5x5_1"), p+".branch5x5_2")
	b3 := net.conv(net.conv(net.conv(x, p+".branch3x3dbl_1"), p+".branch3x3dbl_2"), p+".branch3x3dbl_3")
	bp := net.conv(branchPool(x, avgPoolExcludePad), p+".branch_pool")
	return net.stage(p, Concatenate([]*Node{b1, b5, b3, bp}, -1))
}

func (net *inceptionNet) blockB(p string, x *Node) *Node {
	b3 := net.conv(x, p+".branch3x3")
	bd := net.conv(net.conv(net.conv(x, p+".branch3x3dbl_1"), p+".branch3x3dbl_2"), p+".branch3x3dbl_3")
	bp := maxPool3s2(x)
	return net.stage(p, Concatenate([]*Node{b3, bd, bp}, -1))
}

func (net *inceptionNet) blockC(p string, x *Node) *Node {
	b1 := net.conv(x, p+".branch1x1")
	b7 := x
	for _, s := range []string{"_1", "_2", "_3"} {
		b7 = net.conv(b7, p+".branch7x7"+s)
	}
	bd := x
	for _, s := range []string{"_1", "_2", "_3", "_4", "_5"} {
		bd = net.conv(bd, p+".branch7x7dbl"+s)
	}
	bp := net.conv(branchPool(x, avgPoolExcludePad), p+".branch_pool")
	return net.stage(p, Concatenate([]*Node{b1, b7, bd, bp}, -1))
}

func (net *inceptionNet) blockD(p string, x *Node) *Node {
	b3 := net.conv(net.conv(x, p+".branch3x3_1"), p+".branch3x3_2")
	b7 := x
	for _, s := range []string{"_1", "_2", "_3", "_4"} {
		b7 = net.conv(b7, p+".branch7x7x3"+s)
	}
	bp := maxPool3s2(x)
	return net.stage(p, Concatenate([]*Node{b3, b7, bp}, -1))
}

func (net *inceptionNet) blockE(p string, x *Node, pool poolKind) *Node {
	b1 := net.conv(x, p+".branch1x1")
	b3 := net.conv(x, p+".branch3x3_1")
	b3 = Concatenate([]*Node{net.conv(b3, p+".branch3x3_2a"), net.conv(b3, p+".branch3x3_2b")}, -1)
	bd := net.conv(net.conv(x, p+".branch3x3dbl_1"), p+".branch3x3dbl_2")
	bd = Concatenate([]*Node{net.conv(bd, p+".branch3x3dbl_3a"), net.conv(bd, p+".branch3x3dbl_3b")}, -1)
	bp := net.conv(branchPool(x, pool), p+".branch_pool")
	return net.stage(p, Concatenate([]*Node{b1, b3, bd, bp}, -1))
}

func (net *inceptionNet) forward(x *Node) *Node {
	x = net.stage("Conv2d_1a_3x3", net.conv(x, "Conv2d_1a_3x3"))
	x = net.stage("Conv2d_2a_3x3", net.conv(x, "Conv2d_2a_3x3"))
	x = net.stage("Conv2d_2b_3x3", net.conv(x, "Conv2d_2b_3x3"))
	x = net.stage("MaxPool_1", maxPool3s2(x))
	x = net.stage("Conv2d_3b_1x1", net.conv(x, "Conv2d_3b_1x1"))
	x = net.stage("Conv2d_4a_3x3", net.conv(x, "Conv2d_4a_3x3"))
	x = net.stage("MaxPool_2", maxPool3s2(x))
	x = net.blockA("Mixed_5b", x)
	x = net.blockA("Mixed_5c", x)
	x = net.blockA("Mixed_5d", x)
	x = net.blockB("Mixed_6a", x)
	for _, p := range []string{"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"} {
		x = net.blockC(p, x)
	}
	x = net.blockD("Mixed_7a", x)
	x = net.blockE("Mixed_7b", x, avgPoolExcludePad)
	x = net.blockE("Mixed_7c", x, maxPoolPad)
	return net.stage("pool3", ReduceMean(x, 1, 2))
}

// Inception is the FID network, ready to run on a backend.
type Inception struct {
	params *gmx.Params
	prog   *gmx.Program
}

func foldedParams(w *Weights) (*gmx.Params, error) {
	p := gmx.NewParams()
	for _, u := range inceptionUnits() {
		k, b, err := w.fold(u)
		if err != nil {
			return nil, err
		}
		if err := p.Add(u.name+".kernel", k, u.kh*u.kw*u.in, u.out); err != nil {
			return nil, err
		}
		if err := p.Add(u.name+".bias", b, u.out); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// NewInception prepares the network with the given weights (BatchNorm folded into the kernels).
func NewInception(backend compute.Backend, w *Weights) (*Inception, error) {
	return newInception(backend, w, nil)
}

func newInception(backend compute.Backend, w *Weights, tap func(string, *Node)) (*Inception, error) {
	params, err := foldedParams(w)
	if err != nil {
		return nil, err
	}
	units := map[string]convSpec{}
	for _, u := range inceptionUnits() {
		units[u.name] = u
	}
	m := &Inception{params: params}
	m.prog, err = gmx.NewProgram(backend, "fid_inception", params, 1, func(in []*Node, param func(string) *Node) []*Node {
		net := &inceptionNet{units: units, param: param, tap: tap}
		return []*Node{net.forward(in[0])}
	})
	if err != nil {
		params.Finalize()
		return nil, err
	}
	return m, nil
}

// Features runs a batch of preprocessed images (each InputSize×InputSize×3, values in [-1, 1], see
// Preprocess) and returns their 2048-d pool3 features.
func (m *Inception) Features(batch []*imaging.Float) ([][]float32, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	x, err := gmx.ImageBatch("FID Inception", batch, batch[0].Width, batch[0].Height)
	if err != nil {
		return nil, err
	}
	defer x.FinalizeAll()
	outs, err := m.prog.Run(x)
	if err != nil {
		return nil, err
	}
	flat, err := gmx.Float32s(outs[0])
	if err != nil {
		return nil, err
	}
	feats := make([][]float32, len(batch))
	for i := range feats {
		feats[i] = flat[i*FeatureDim : (i+1)*FeatureDim]
	}
	return feats, nil
}

// Close releases the compiled graphs and weights.
func (m *Inception) Close() {
	m.prog.Finalize()
	m.params.Finalize()
}

// Preprocess applies SANA's torchvision transform (Resize(imageSize) bilinear on the PIL image, then
// CenterCrop(imageSize); skipped when imageSize is 0) and pytorch-fid's input handling (bilinear resize
// to 299×299 without antialias, then 2x−1).
func Preprocess(img *imaging.RGB8, imageSize int) (*imaging.Float, error) {
	var err error
	if imageSize > 0 {
		if img, err = imaging.ResizeShorterSide(img, imageSize, imaging.Bilinear); err != nil {
			return nil, err
		}
		if img, err = imaging.CenterCrop(img, imageSize, imageSize); err != nil {
			return nil, err
		}
	}
	f, err := imaging.ResizeBilinearNoAA(img.ToFloat(), InputSize, InputSize)
	if err != nil {
		return nil, err
	}
	for i, v := range f.Pix {
		f.Pix[i] = 2*v - 1
	}
	return f, nil
}

// Extractor turns decoded images into FID features: Preprocess (in parallel) then the network.
type Extractor struct {
	Model *Inception
	// ImageSize is the torchvision Resize+CenterCrop size applied before the network (SANA's img_size);
	// 0 leaves images as they are.
	ImageSize int
}

// Dim is the feature size.
func (e *Extractor) Dim() int { return FeatureDim }

// Features preprocesses and embeds a batch of images.
func (e *Extractor) Features(imgs []*imaging.RGB8) ([][]float32, error) {
	pre, err := imaging.PreprocessAll(imgs, func(img *imaging.RGB8) (*imaging.Float, error) { return Preprocess(img, e.ImageSize) })
	if err != nil {
		return nil, err
	}
	return e.Model.Features(pre)
}
