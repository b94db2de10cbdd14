package vae

import (
	"fmt"
	"math"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// normEps is the epsilon of every norm in AutoencoderDC (get_normalization's default, RMSNorm(…,
// 1e-5) of norm_out and of GLUMBConv, BatchNorm2d's eps).
const normEps = 1e-5

// rmsNorm2d is diffusers' RMSNorm over the channel axis (moved last, as the blocks do with
// movedim), with weight and bias:
//
//	y = x / √(mean_c(x²) + ε) · weight + bias
//
// Written with Sqrt rather than Rsqrt (which has no gradient in GoMLX).
func rmsNorm2d(x, weight, bias *Node) *Node {
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	y := Div(x, Sqrt(AddScalar(ms, normEps)))
	y = Mul(y, ExpandLeftToRank(weight, y.Rank()))
	if bias != nil {
		y = Add(y, ExpandLeftToRank(bias, y.Rank()))
	}
	return y
}

// batchNorm2d is BatchNorm2d in evaluation mode over the channel axis (last):
//
//	y = (x − running_mean) / √(running_var + ε) · weight + bias
func batchNorm2d(x, weight, bias, mean, variance *Node) *Node {
	r := x.Rank()
	scale := Div(weight, Sqrt(AddScalar(variance, normEps))) // per channel
	y := Mul(Sub(x, ExpandLeftToRank(mean, r)), ExpandLeftToRank(scale, r))
	return Add(y, ExpandLeftToRank(bias, r))
}

// norm applies the named norm of a block (RMSNorm or BatchNorm) whose tensors are under pre
// (e.g. "decoder.up_blocks.1.2.norm").
func norm(w Weights, kind, pre string, x *Node) *Node {
	switch kind {
	case RMSNorm:
		return rmsNorm2d(x, w.get(pre+".weight"), w.get(pre+".bias"))
	case BatchNorm:
		return batchNorm2d(x, w.get(pre+".weight"), w.get(pre+".bias"), w.get(pre+".running_mean"), w.get(pre+".running_var"))
	}
	panic(fmt.Errorf("vae: norm type %q", kind))
}

// activation applies one of diffusers' get_activation functions by name ("" is the identity).
func activation(name string, x *Node) *Node {
	switch strings.ToLower(name) {
	case "":
		return x
	case "silu", "swish":
		return silu(x)
	case "relu":
		return relu(x)
	case "gelu": // exact: x·Φ(x) = x/2·(1 + erf(x/√2))
		return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
	case "mish": // x·tanh(softplus(x))
		return Mul(x, Tanh(Softplus(x)))
	}
	panic(fmt.Errorf("vae: activation %q", name))
}

func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

func relu(x *Node) *Node { return Max(x, ScalarZero(x.Graph(), x.DType())) }
