package data

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
)

func TestExpRead(t *testing.T) {
	dir := "/tmp/sana-bench"
	if _, err := os.Stat(dir); err != nil {
		w, _ := NewWriter(dir, WriterOptions{Format: FormatArrow, LatentDType: dtypes.BFloat16, TextDType: dtypes.BFloat16, MaxRows: 64})
		row := testRow(0, [3]int{32, 32, 32}, [2]int{300, 2304})
		for i := 0; i < 192; i++ {
			row.Key = fmt.Sprintf("sana-%05d", i)
			w.Write(row)
		}
		w.Close()
	}
	for _, out := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
		for _, workers := range []int{1, 2, 3} {
			r, err := Open([]string{dir}, ReaderOptions{BatchSize: 32, Shuffle: true, DropLast: true, Prefetch: 4, Workers: workers, CacheBytes: -1, LatentDType: out, TextDType: out})
			if err != nil {
				t.Fatal(err)
			}
			it, _ := r.Iterate(context.Background(), Position{})
			it.Next()
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(0, &ru0)
			t0 := time.Now()
			n := 30
			for i := 0; i < n; i++ {
				if _, err := it.Next(); err != nil {
					t.Fatal(err)
				}
			}
			el := time.Since(t0).Seconds()
			syscall.Getrusage(0, &ru1)
			cpu := float64(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) / 1e9
			fmt.Printf("out=%s workers=%d: %.0f samples/s, cpu %.2fs over %.2fs wall (user %.2f sys %.2f)\n", DTypeName(out), workers, float64(n*32)/el, cpu, el,
				float64(ru1.Utime.Nano()-ru0.Utime.Nano())/1e9, float64(ru1.Stime.Nano()-ru0.Stime.Nano())/1e9)
			it.Close()
			r.Close()
		}
	}
}
