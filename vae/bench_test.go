package vae

import (
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
)

// benchModel builds the released dc-ae-f32c32-sana-1.1 architecture with random weights.
func benchModel(b *testing.B, parts Parts) *Model {
	b.Helper()
	cfg, err := Preset("dc-ae-f32c32-sana-1.1")
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(testBackend(b), cfg, RandomParams(cfg, parts, 1))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func randTensor(seed uint64, dims ...int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// processCPU is the user+system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSS is the peak resident set size of the process so far.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

func benchCoder(b *testing.B, decode bool, side int, tiling Tiling) {
	parts := EncoderPart
	if decode {
		parts = DecoderPart
	}
	m := benchModel(b, parts)
	defer m.Finalize()
	var in *tensors.Tensor
	if decode {
		in = randTensor(2, 1, 32, side/32, side/32)
	} else {
		in = randTensor(2, 1, 3, side, side)
	}
	run := func() time.Duration {
		start := time.Now()
		var out *tensors.Tensor
		var err error
		if decode {
			out, err = m.DecodeTiled(in, tiling)
		} else {
			out, err = m.EncodeTiled(in, tiling)
		}
		if err != nil {
			b.Fatal(err)
		}
		_ = out.FinalizeAll()
		return time.Since(start)
	}
	first := run() // compile + run
	runtime.GC()
	cpu0 := processCPU()
	b.ResetTimer()
	best := time.Duration(1 << 62)
	for range b.N {
		best = min(best, run())
	}
	b.StopTimer()
	// CPU time of the process per image (all threads): less sensitive to other processes on a
	// shared machine than wall time; on an idle 2-core machine wall time is about half of it.
	b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/img")
	b.ReportMetric(best.Seconds(), "min-s/img")
	b.ReportMetric(first.Seconds(), "first-s")
	b.ReportMetric(float64(maxRSS())/(1<<30), "maxRSS-GiB")
}

// BenchmarkDecode: one image from a random latent (1, 32, side/32, side/32) through the
// dc-ae-f32c32-sana-1.1 architecture with random weights on the Go backend: 512 px untiled,
// 1024 px with DefaultDecodeTiling (four 576×576 windows; untiled 1024 px needs well over 10 GiB).
// Run one size at a time (-bench Decode/1024): maxRSS is the process peak.
func BenchmarkDecode(b *testing.B) {
	b.Run("512", func(b *testing.B) { benchCoder(b, true, 512, Tiling{}) })
	b.Run("1024-tiled", func(b *testing.B) { benchCoder(b, true, 1024, DefaultDecodeTiling) })
}

// BenchmarkEncode: one random image (1, 3, side, side) to latents, same model: 512 px untiled,
// 1024 px tiled like the decoder (Tile 16, Overlap 2, Blend 1 latent pixel).
func BenchmarkEncode(b *testing.B) {
	b.Run("512", func(b *testing.B) { benchCoder(b, false, 512, Tiling{}) })
	b.Run("1024-tiled", func(b *testing.B) { benchCoder(b, false, 1024, Tiling{Tile: 16, Overlap: 2, Blend: 1}) })
}
