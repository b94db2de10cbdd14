package bench

import (
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/sprint-distill/sprint/distill"
)

// Model FLOPs of one step, in units of F = model.ForwardFLOPs per sample (one forward pass of
// the network), counted as MFU counts them: a backward pass that produces weight gradients is
// 2F, one that produces input gradients only (through the frozen teacher) is F, the JVP by
// double VJP is a VJP and its transpose (4F); recomputation for gradient checkpointing is not
// model work and is not counted. Blocks the graph never reads (the teacher after the last head
// block in the LADD pass) are counted: the figures are an upper bound of the useful work.

// fmPasses is the teacher's flow-matching step: forward and backward.
func fmPasses() float64 { return 3 }

// gPasses is the generator step per sample (§12 G step).
func gPasses(cfg distill.Config, batch int) float64 {
	var f float64
	if cfg.SCM() {
		if cfg.UsesCFG() {
			f += 2 // teacher on [null; caption]
		} else {
			f++
		}
		f += 1 + 4 + 2 // student forward, its JVP (double VJP), backward to the weights
	}
	if cfg.LADD() {
		if cfg.TrainLargestTimestep || !cfg.SCM() {
			f += 1 + 2 // a second student forward and its backward
		}
		f += 1 + 1 // teacher features forward, input-gradient backward
	}
	return f
}

// dPasses is the discriminator step per sample (§12 D step): the no-grad student and the
// teacher over the fakes (doubled by misaligned pairs when the batch has more than one sample)
// and the reals; the heads are negligible.
func dPasses(cfg distill.Config, batch int) float64 {
	fakes := 1.0
	if cfg.MisalignedPairs && batch > 1 {
		fakes = 2
	}
	return 1 + fakes + 1
}

// knownPeaks are dense tensor-core peaks in TFLOP/s per device (vendor data sheets, SXM
// parts): bfloat16, and float32 as TF32 (XLA uses TF32 for float32 matrix products on CUDA
// by default).
var knownPeaks = []struct {
	match      string
	bf16, tf32 float64
}{
	{"H200", 989.4, 494.7},
	{"H100", 989.4, 494.7},
	{"A100", 312, 156},
}

// peakFor returns the known peak of a device description for a compute dtype, or 0.
func peakFor(device string, dt dtypes.DType) float64 {
	for _, p := range knownPeaks {
		if strings.Contains(device, p.match) {
			if dt == dtypes.BFloat16 || dt == dtypes.Float16 {
				return p.bf16
			}
			if dt == dtypes.Float32 {
				return p.tf32
			}
		}
	}
	return 0
}
