package pipeline

import (
	"context"
	"errors"
	"testing"
)

func TestRunInOrder(t *testing.T) {
	var got []int
	err := Run(context.Background(), 23, Options{BatchSize: 5, Workers: 3},
		func(i int) (int, error) { return i * i, nil },
		func(start int, items []int) error {
			for k, v := range items {
				if v != (start+k)*(start+k) {
					t.Fatalf("item %d = %d", start+k, v)
				}
			}
			got = append(got, items...)
			return nil
		})
	if err != nil || len(got) != 23 {
		t.Fatalf("%v, %d items", err, len(got))
	}
}

func TestRunErrors(t *testing.T) {
	boom := errors.New("boom")
	err := Run(context.Background(), 10, Options{BatchSize: 4},
		func(i int) (int, error) {
			if i == 6 {
				return 0, boom
			}
			return i, nil
		},
		func(int, []int) error { return nil })
	if !errors.Is(err, boom) {
		t.Fatalf("load error lost: %v", err)
	}
	err = Run(context.Background(), 10, Options{BatchSize: 4},
		func(i int) (int, error) { return i, nil },
		func(start int, _ []int) error {
			if start == 4 {
				return boom
			}
			return nil
		})
	if !errors.Is(err, boom) {
		t.Fatalf("process error lost: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, 10, Options{}, func(i int) (int, error) { return i, nil }, func(int, []int) error { return nil }); err == nil {
		t.Fatal("cancelled context ignored")
	}
}
