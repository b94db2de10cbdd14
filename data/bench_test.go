//go:build unix

package data

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
)

// BenchmarkReaderSANA1024 reads shuffled batches of SANA's 1024px row shape (latent 32x32x32 and text
// 300x2304, both stored as bfloat16: about 1.4 MB a row) with background prefetch and no group cache
// (a real dataset is far larger than any cache); each op is one batch of 32. It reports samples/s (wall
// clock), samples per CPU-second of the process (what the reader costs, steadier than wall time on a
// shared machine), stored MB/s read and the heap in use after the run.
func BenchmarkReaderSANA1024(b *testing.B) {
	const rows, batch = 192, 32
	latent, text := [3]int{32, 32, 32}, [2]int{300, 2304}
	dir := b.TempDir()
	start := time.Now()
	for _, format := range []Format{FormatParquet, FormatArrow} {
		w, err := NewWriter(dir, WriterOptions{Format: format, Prefix: string(format), LatentDType: dtypes.BFloat16,
			TextDType: dtypes.BFloat16, MaxRows: 64})
		if err != nil {
			b.Fatal(err)
		}
		row := testRow(0, latent, text)
		for i := 0; i < rows; i++ {
			row.Key = fmt.Sprintf("sana-%05d", i)
			row.Latent[0] = float32(i)
			if err := w.Write(row); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("wrote 2 x %d rows in %v", rows, time.Since(start))
	layout := Layout{LatentDType: dtypes.BFloat16, LatentShape: latent, TextDType: dtypes.BFloat16, TextShape: text}
	for _, format := range []Format{FormatParquet, FormatArrow} {
		for _, out := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
			b.Run(fmt.Sprintf("%s/out=%s", format, DTypeName(out)), func(b *testing.B) {
				r, err := Open([]string{dir + "/" + string(format) + "-*"}, ReaderOptions{BatchSize: batch, Shuffle: true,
					Seed: 1, DropLast: true, Prefetch: 4, CacheBytes: -1, LatentDType: out, TextDType: out})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				it, err := r.Iterate(context.Background(), Position{})
				if err != nil {
					b.Fatal(err)
				}
				defer it.Close()
				if _, err := it.Next(); err != nil { // start-up
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0 := cpuSeconds()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := it.Next(); err != nil {
						b.Fatal(err)
					}
				}
				el := b.Elapsed().Seconds()
				b.StopTimer()
				b.ReportMetric(float64(b.N*batch)/(cpuSeconds()-cpu0), "samples/cpu-s")
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(b.N*batch)/el, "samples/s")
				b.ReportMetric(float64(b.N*batch*layout.RowBytes())/el/1e6, "stored-MB/s")
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
			})
		}
	}
}

// cpuSeconds is the user+system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
