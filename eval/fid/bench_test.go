package fid

import (
	"testing"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// BenchmarkInceptionFeatures measures FID feature extraction (299×299 inputs, random weights) on the
// test backend; it reports images/s.
func BenchmarkInceptionFeatures(b *testing.B) {
	net := sharedNet(b)
	const batch = 8
	imgs := make([]*imaging.Float, batch)
	for i := range imgs {
		imgs[i] = randomImage(uint64(i), InputSize)
	}
	if _, err := net.Features(imgs); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := net.Features(imgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}
