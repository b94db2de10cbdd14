package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Options configure Run.
type Options struct {
	BatchSize int // items per batch (default 16)
	Workers   int // loading goroutines (default GOMAXPROCS)
}

// Run loads items [0, n) with load and hands them to process in consecutive batches; start is the
// index of the batch's first item. It stops at the first error or when ctx is cancelled.
func Run[T any](ctx context.Context, n int, opts Options, load func(i int) (T, error), process func(start int, items []T) error) error {
	bs := opts.BatchSize
	if bs <= 0 {
		bs = 16
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type batch struct {
		start int
		items []T
		err   error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan batch, 1)
	go func() {
		defer close(ch)
		for start := 0; start < n; start += bs {
			end := min(start+bs, n)
			items := make([]T, end-start)
			errs := make([]error, end-start)
			var wg sync.WaitGroup
			next := make(chan int)
			for w := 0; w < min(workers, end-start); w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						items[i-start], errs[i-start] = load(i)
					}
				}()
			}
			for i := start; i < end; i++ {
				next <- i
			}
			close(next)
			wg.Wait()
			b := batch{start: start, items: items}
			for i, err := range errs {
				if err != nil {
					b.err = fmt.Errorf("item %d: %w", start+i, err)
					break
				}
			}
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	for b := range ch {
		if b.err != nil {
			return b.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := process(b.start, b.items); err != nil {
			return err
		}
	}
	return ctx.Err()
}
