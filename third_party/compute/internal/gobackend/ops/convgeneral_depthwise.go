package ops

import (
	"slices"
	"sync"

	"github.com/gomlx/compute/internal/gobackend"
)

// Depthwise convolutions (one filter per channel: channelGroupCount equal to the number of input
// and output channels) with the channels as the innermost axis, unit strides and no dilation are
// computed directly: for every output row and kernel tap, the contributions of a whole span of
// output positions are one multiply-add over contiguous channel vectors. The generic ConvGeneral
// loops compute every output element with its own index arithmetic, which made a 3x3 depthwise
// convolution over [16, 16, 16, 1280] hundreds of times slower than a memory pass.

// depthwisePlan holds the sizes of a 2-D channels-last depthwise convolution.
type depthwisePlan struct {
	batch, inH, inW, outH, outW, channels int
	kH, kW                                int
	padTop, padLeft                       int
}

// depthwiseConvPlan reports whether the convolution is a 2-D depthwise one this fast path
// handles: input [batch, h, w, channels], kernel [kh, kw, 1, channels], output
// [batch, oh, ow, channels], channelGroupCount = channels, no batch grouping, unit strides and
// no dilations (paddings may be anything, also negative).
func depthwiseConvPlan(params *convNode, inputDims, kernelDims, outputDims []int) (depthwisePlan, bool) {
	axes := params.axes
	if len(inputDims) != 4 || params.batchGroupCount != 1 || params.hasInputDilations || params.hasKernelDilations {
		return depthwisePlan{}, false
	}
	if axes.InputBatch != 0 || !slices.Equal(axes.InputSpatial, []int{1, 2}) || axes.InputChannels != 3 ||
		axes.OutputBatch != 0 || !slices.Equal(axes.OutputSpatial, []int{1, 2}) || axes.OutputChannels != 3 ||
		!slices.Equal(axes.KernelSpatial, []int{0, 1}) || axes.KernelInputChannels != 2 || axes.KernelOutputChannels != 3 {
		return depthwisePlan{}, false
	}
	channels := inputDims[3]
	if params.channelGroupCount != channels || kernelDims[2] != 1 || kernelDims[3] != channels || outputDims[3] != channels {
		return depthwisePlan{}, false
	}
	for _, s := range params.strides {
		if s != 1 {
			return depthwisePlan{}, false
		}
	}
	for _, d := range params.kernelDilations {
		if d > 1 {
			return depthwisePlan{}, false
		}
	}
	return depthwisePlan{
		batch: inputDims[0], inH: inputDims[1], inW: inputDims[2], channels: channels,
		outH: outputDims[1], outW: outputDims[2],
		kH: kernelDims[0], kW: kernelDims[1],
		padTop: params.paddings[0][0], padLeft: params.paddings[1][0],
	}, true
}

// depthwiseRowFMA computes out[i] += in[i]·k[i mod len(k)] for i < len(out), len(out) a multiple
// of len(k). It is set to a SIMD version for float32 where available.
var depthwiseRowFMAFloat32 = depthwiseRowFMAGeneric[float32]

func depthwiseRowFMAGeneric[T float32 | float64](out, in, k []T) {
	c := len(k)
	for o := 0; o < len(out); o += c {
		dst, src := out[o:o+c], in[o:o+c]
		for i, kv := range k {
			dst[i] += src[i] * kv
		}
	}
}

// execDepthwiseConv computes the convolution of p into output, rows in parallel on the backend's
// workers. fma is the row kernel for T.
func execDepthwiseConv[T float32 | float64](backend *gobackend.Backend, p depthwisePlan, in, kernel, out []T, fma func(out, in, k []T)) {
	C := p.channels
	rowLen := p.outW * C
	row := func(b, oh int) {
		dst := out[(b*p.outH+oh)*rowLen : (b*p.outH+oh+1)*rowLen]
		clear(dst)
		for kh := range p.kH {
			ih := oh - p.padTop + kh
			if ih < 0 || ih >= p.inH {
				continue
			}
			src := in[(b*p.inH+ih)*p.inW*C : (b*p.inH+ih+1)*p.inW*C]
			for kw := range p.kW {
				// Output columns ow whose input column iw = ow - padLeft + kw is inside the row.
				first := max(0, p.padLeft-kw)
				last := min(p.outW, p.inW+p.padLeft-kw)
				if first >= last {
					continue
				}
				iw := first - p.padLeft + kw
				k := kernel[(kh*p.kW+kw)*C : (kh*p.kW+kw+1)*C]
				fma(dst[first*C:last*C], src[iw*C:(iw+last-first)*C], k)
			}
		}
	}
	rows := p.batch * p.outH
	run := func(first, last int) {
		for r := first; r < last; r++ {
			row(r/p.outH, r%p.outH)
		}
	}
	if backend == nil || backend.Workers == nil || !backend.Workers.IsEnabled() || rows < 2 || len(out) < 16384 {
		run(0, rows)
		return
	}
	chunks := min(rows, max(1, 2*backend.Workers.AdjustedMaxParallelism()))
	per := (rows + chunks - 1) / chunks
	var wg sync.WaitGroup
	for first := 0; first < rows; first += per {
		last := min(first+per, rows)
		wg.Add(1)
		backend.Workers.WaitToStart(func() {
			defer wg.Done()
			run(first, last)
		})
	}
	wg.Wait()
}

// tryDepthwiseConv runs the depthwise fast path when it applies to the node and dtype (output
// need not be zeroed). It returns whether it did.
func tryDepthwiseConv(backend *gobackend.Backend, params *convNode, input, kernel, output *gobackend.Buffer) bool {
	p, ok := depthwiseConvPlan(params, input.RawShape.Dimensions, kernel.RawShape.Dimensions, output.RawShape.Dimensions)
	if !ok {
		return false
	}
	switch in := input.Flat.(type) {
	case []float32:
		execDepthwiseConv(backend, p, in, kernel.Flat.([]float32), output.Flat.([]float32), depthwiseRowFMAFloat32)
	case []float64:
		execDepthwiseConv(backend, p, in, kernel.Flat.([]float64), output.Flat.([]float64), depthwiseRowFMAGeneric[float64])
	default:
		return false
	}
	return true
}
