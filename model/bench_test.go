package model

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

const benchBatch = 16

// benchDemo builds the demo student's TrigFlow forward (withGrad: plus the gradient of
// mean(F²) w.r.t. every parameter), runs it once to compile, then times b.N runs and reports
// GFLOP/s (forward FLOPs from ForwardFLOPs; a backward pass counted as twice a forward), for
// the mean and for the fastest step.
func benchDemo(b *testing.B, withGrad bool) {
	cfg, err := PresetConfig(PresetDemo)
	if err != nil {
		b.Fatal(err)
	}
	p := randomParams(b, cfg, Student, 1)
	names, _ := p.Sorted()
	side := cfg.LatentSize
	dt := dtypes.Float32
	x := randn(dt, 2, benchBatch, cfg.InChannels, side, side)
	thetas := make([]float64, benchBatch)
	gs := make([]float64, benchBatch)
	for i := range thetas {
		thetas[i] = 0.1 + 1.4*float64(i)/benchBatch
		gs[i] = 4.5
	}
	theta, guidance := fromFloats(dt, thetas, benchBatch), fromFloats(dt, gs, benchBatch)
	_, _, text, mask := tinyInputs(cfg, benchBatch, side, 3)

	exec, err := NewExec(testBackend(b), func(g *Graph, in []*Node) []*Node {
		w := WeightsFromNodes(names, in[:len(names)])
		d := in[len(names):]
		F, logvar, _ := TrigFlow(cfg, w, d[0], d[1], d[2], d[3], d[4], nil)
		if !withGrad {
			return []*Node{F, logvar}
		}
		loss := ReduceAllMean(Square(F))
		return Gradient(loss, in[:len(names)]...)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	args := append(p.Args(), x, theta, text, mask, guidance)
	run := func() time.Duration {
		start := time.Now()
		outs, err := exec.Exec(args...)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range outs {
			_ = o.FinalizeAll()
		}
		return time.Since(start)
	}
	run() // compile
	best := time.Duration(math.MaxInt64)
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		best = min(best, run())
	}
	b.StopTimer()
	cpu := (processCPU() - cpu0).Seconds() / float64(b.N)
	flops := ForwardFLOPs(cfg, side, cfg.CaptionLen) * benchBatch
	if withGrad {
		flops *= 3
	}
	mean := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(flops/mean/1e9, "GFLOP/s")
	b.ReportMetric(mean*1e3, "ms/step")
	// The fastest step, less sensitive to other processes on a shared machine.
	b.ReportMetric(best.Seconds()*1e3, "min-ms/step")
	b.ReportMetric(flops/best.Seconds()/1e9, "min-GFLOP/s")
	// CPU time of this process per step (all threads): on a machine shared with other jobs it
	// approximates the work done; on an idle machine with 2 cores wall time is about half.
	b.ReportMetric(cpu*1e3, "cpu-ms/step")
}

// processCPU returns the user+system CPU time consumed by this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDemoForward: the demo student's TrigFlow forward, batch 16.
func BenchmarkDemoForward(b *testing.B) { benchDemo(b, false) }

// BenchmarkDemoForwardBackward: forward plus the gradient w.r.t. all parameters, batch 16.
func BenchmarkDemoForwardBackward(b *testing.B) { benchDemo(b, true) }
