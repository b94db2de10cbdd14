package data

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/gomlx/compute/dtypes"
)

func TestRoundTrip(t *testing.T) {
	for _, format := range []Format{FormatParquet, FormatArrow} {
		for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float16, dtypes.BFloat16} {
			for _, outDT := range []dtypes.DType{dtypes.Float32, dt} {
				t.Run(fmt.Sprintf("%s/%s->%s", format, DTypeName(dt), DTypeName(outDT)), func(t *testing.T) {
					const n = 23
					latent := [3]int{2, 3, 4}
					dir := writeDataset(t, datasetSpec{format: format, latentDT: dt, textDT: dt, rows: n,
						maxRows: 10, groupBytes: 200})
					r := mustOpen(t, []string{filepath.Join(dir, "*"+format.Ext())}, ReaderOptions{
						Format: format, BatchSize: 5, LatentDType: outDT, TextDType: outDT})
					if r.Len() != n || len(r.Shards()) != 3 {
						t.Fatalf("Len %d, shards %d: want %d rows in 3 shards", r.Len(), len(r.Shards()), n)
					}
					for _, s := range r.Shards() {
						if s.Layout.LatentDType != dt || s.Layout.LatentShape != latent || s.Layout.TextShape != testText {
							t.Fatalf("shard layout %s", s.Layout)
						}
						if s.Groups < 2 {
							t.Errorf("shard %s has %d groups: want several (group bytes 200)", s.Path, s.Groups)
						}
					}
					bs := epochBatches(t, r, 0)
					if len(bs) != 5 || r.StepsPerEpoch() != 5 || bs[4].Size() != 3 {
						t.Fatalf("%d batches, steps %d: want 4 of 5 rows and a last one of 3 (drop last is false)",
							len(bs), r.StepsPerEpoch())
					}
					seen := 0
					for _, b := range bs {
						if got := b.Latent.Shape().Dimensions; !slices.Equal(got, []int{b.Size(), 2, 3, 4}) || b.Latent.DType() != outDT {
							t.Fatalf("latent %s", b.Latent.Shape())
						}
						if got := b.TextEmbedding.Shape().Dimensions; !slices.Equal(got, []int{b.Size(), 4, 3}) || b.TextEmbedding.DType() != outDT {
							t.Fatalf("text %s", b.TextEmbedding.Shape())
						}
						lat, txt, mask := float32s(t, b.Latent), float32s(t, b.TextEmbedding), float32s(t, b.TextMask)
						for k, key := range b.Keys {
							var id int
							fmt.Sscanf(key, "row-%d", &id)
							want := testRow(id, latent, testText)
							if !slices.Equal(lat[k*24:(k+1)*24], want.Latent) {
								t.Fatalf("row %s latent %v, want %v", key, lat[k*24:(k+1)*24], want.Latent)
							}
							if !slices.Equal(txt[k*12:(k+1)*12], want.TextEmbedding) {
								t.Fatalf("row %s text %v, want %v", key, txt[k*12:(k+1)*12], want.TextEmbedding)
							}
							if !slices.Equal(mask[k*4:(k+1)*4], want.TextMask) {
								t.Fatalf("row %s mask %v, want %v", key, mask[k*4:(k+1)*4], want.TextMask)
							}
							if b.Prompts[k] != want.Prompt || b.Categories[k] != want.Category || b.Meta[k] != want.Meta ||
								b.Widths[k] != want.Width || b.Heights[k] != want.Height {
								t.Fatalf("row %s strings %q %q %q %d %d", key, b.Prompts[k], b.Categories[k], b.Meta[k], b.Widths[k], b.Heights[k])
							}
							row, err := r.ReadRow(context.Background(), b.Rows[k])
							if err != nil {
								t.Fatal(err)
							}
							if !reflect.DeepEqual(row, want) {
								t.Fatalf("ReadRow(%v) = %+v, want %+v", b.Rows[k], row, want)
							}
							seen++
						}
					}
					if seen != n {
						t.Fatalf("saw %d rows, want %d", seen, n)
					}
				})
			}
		}
	}
}

func TestShuffleDeterministicAndPerEpoch(t *testing.T) {
	dir := writeDataset(t, datasetSpec{format: FormatArrow, rows: 40, maxRows: 16})
	open := func(seed uint64, prefetch int) *Reader {
		return mustOpen(t, []string{dir}, ReaderOptions{BatchSize: 4, Seed: seed, Shuffle: true, Prefetch: prefetch, DropLast: true})
	}
	a0 := keysOf(epochBatches(t, open(7, 0), 0))
	b0 := keysOf(epochBatches(t, open(7, 3), 0)) // another reader, background prefetch
	a1 := keysOf(epochBatches(t, open(7, 0), 1))
	c0 := keysOf(epochBatches(t, open(8, 0), 0))
	if !slices.Equal(a0, b0) {
		t.Fatalf("same (seed, epoch) gave different orders:\n%v\n%v", a0, b0)
	}
	if slices.Equal(a0, a1) {
		t.Fatalf("epochs 0 and 1 have the same order")
	}
	if slices.Equal(a0, c0) {
		t.Fatalf("seeds 7 and 8 have the same order")
	}
	for _, ks := range [][]string{a0, a1, c0} {
		s := slices.Clone(ks)
		sort.Strings(s)
		if len(slices.Compact(s)) != 40 {
			t.Fatalf("an epoch does not visit each of the 40 rows once: %v", ks)
		}
	}
	// Golden order: the shuffle must not change across releases (resumed runs depend on it).
	if got, want := Permutation(10, 1, 0), []int{2, 1, 5, 4, 7, 6, 0, 8, 9, 3}; !slices.Equal(got, want) {
		t.Errorf("Permutation(10, 1, 0) = %v, want %v", got, want)
	}
	// Unshuffled: shard order, row order.
	plain := keysOf(epochBatches(t, mustOpen(t, []string{dir}, ReaderOptions{BatchSize: 4}), 3))
	for i, k := range plain {
		if k != fmt.Sprintf("row-%05d", i) {
			t.Fatalf("unshuffled key %d is %s", i, k)
		}
	}
}

func TestIterateCrossesEpochs(t *testing.T) {
	dir := writeDataset(t, datasetSpec{format: FormatParquet, rows: 10})
	r := mustOpen(t, []string{dir}, ReaderOptions{BatchSize: 3, Shuffle: true, Seed: 1, DropLast: true, Prefetch: 2})
	bs := collect(t, r, Position{}, 7)
	want := []Position{{0, 1, ""}, {0, 2, ""}, {1, 0, ""}, {1, 1, ""}, {1, 2, ""}, {2, 0, ""}, {2, 1, ""}}
	for i, b := range bs {
		next := b.Next
		next.Fingerprint = ""
		if next != want[i] {
			t.Errorf("batch %d: Next %+v, want %+v", i, next, want[i])
		}
		if b.Next.Fingerprint != r.Fingerprint() {
			t.Errorf("batch %d: fingerprint %q, want %q", i, b.Next.Fingerprint, r.Fingerprint())
		}
	}
	if e0, e1 := keysOf(bs[:3]), keysOf(bs[3:6]); slices.Equal(e0, e1) {
		t.Errorf("epoch 1 repeats epoch 0's order")
	}
}

func TestRanksDisjointAndCover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rows     int
		shapes   [][3]int
		batch    int
		world    int
		dropLast bool
		perEpoch int // rows seen by all ranks together
	}{
		{"one shape drop last", 50, nil, 3, 4, true, 48},
		{"one shape keep last", 50, nil, 3, 4, false, 48}, // last 2 rows < world size
		{"two shapes keep last", 50, [][3]int{{2, 3, 4}, {2, 4, 3}}, 2, 3, false, 48},
		{"two shapes drop last", 50, [][3]int{{2, 3, 4}, {2, 4, 3}}, 2, 3, true, 48},
		{"world one", 17, nil, 4, 1, false, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDataset(t, datasetSpec{format: FormatParquet, rows: tc.rows, shapes: tc.shapes, maxRows: 20})
			var all []string
			steps := -1
			for rank := 0; rank < tc.world; rank++ {
				r := mustOpen(t, []string{dir}, ReaderOptions{BatchSize: tc.batch, Seed: 3, Shuffle: true,
					Rank: rank, WorldSize: tc.world, DropLast: tc.dropLast, Prefetch: 1})
				bs := epochBatches(t, r, 2)
				if steps >= 0 && len(bs) != steps {
					t.Fatalf("rank %d has %d batches, rank 0 had %d", rank, len(bs), steps)
				}
				steps = len(bs)
				if len(bs) != r.StepsPerEpoch() {
					t.Fatalf("rank %d: %d batches, StepsPerEpoch %d", rank, len(bs), r.StepsPerEpoch())
				}
				for _, b := range bs {
					if tc.dropLast && b.Size() != tc.batch {
						t.Fatalf("rank %d: batch of %d with drop last", rank, b.Size())
					}
				}
				all = append(all, keysOf(bs)...)
			}
			if len(all) != tc.perEpoch {
				t.Fatalf("ranks saw %d rows together, want %d", len(all), tc.perEpoch)
			}
			sort.Strings(all)
			if len(slices.Compact(all)) != tc.perEpoch {
				t.Fatalf("ranks' rows overlap")
			}
		})
	}
}

func TestResume(t *testing.T) {
	dir := writeDataset(t, datasetSpec{format: FormatArrow, rows: 30, shapes: [][3]int{{2, 3, 4}, {2, 2, 2}, {2, 3, 4}}, maxRows: 8})
	opts := ReaderOptions{BatchSize: 2, Seed: 11, Shuffle: true, DropLast: true, Prefetch: 2, Rank: 1, WorldSize: 2}
	r := mustOpen(t, []string{dir}, opts)
	full := collect(t, r, Position{}, 20) // crosses epochs
	for _, cut := range []int{0, 1, 4, 6, 7, 13} {
		saved, err := json.Marshal(full[cut].Next)
		if err != nil {
			t.Fatal(err)
		}
		var pos Position
		if err := json.Unmarshal(saved, &pos); err != nil {
			t.Fatal(err)
		}
		r2 := mustOpen(t, []string{dir}, opts) // a fresh process
		resumed := collect(t, r2, pos, 20-cut-1)
		if got, want := keysOf(resumed), keysOf(full[cut+1:]); !slices.Equal(got, want) {
			t.Fatalf("resumed after batch %d (%s): %v, want %v", cut, saved, got, want)
		}
	}
	// A position from another setup is refused.
	other := opts
	other.Seed = 12
	r3 := mustOpen(t, []string{dir}, other)
	if _, err := r3.Iterate(context.Background(), full[3].Next); err == nil {
		t.Fatal("resuming with a different seed: want a fingerprint error")
	}
	if _, err := r.Iterate(context.Background(), Position{Epoch: 0, Index: r.StepsPerEpoch() + 1}); err == nil {
		t.Fatal("index beyond the epoch: want an error")
	}
}

func TestBucketsNeverMix(t *testing.T) {
	shapes := [][3]int{{2, 3, 4}, {2, 4, 3}, {2, 2, 2}, {2, 3, 4}}
	dir := writeDataset(t, datasetSpec{format: FormatParquet, rows: 61, shapes: shapes, maxRows: 9})
	opts := ReaderOptions{BatchSize: 4, Seed: 5, Shuffle: true, Prefetch: 2}
	r := mustOpen(t, []string{dir}, opts)
	wantBuckets := []Bucket{{[3]int{2, 2, 2}, 15}, {[3]int{2, 3, 4}, 31}, {[3]int{2, 4, 3}, 15}}
	if got := r.Buckets(); !reflect.DeepEqual(got, wantBuckets) {
		t.Fatalf("Buckets %v, want %v", got, wantBuckets)
	}
	shapeOf := func(key string) [3]int {
		var id int
		fmt.Sscanf(key, "row-%d", &id)
		return shapes[id%len(shapes)]
	}
	bs := epochBatches(t, r, 0)
	for _, b := range bs {
		d := b.Latent.Shape().Dimensions
		for _, k := range b.Keys {
			if s := shapeOf(k); s != [3]int{d[1], d[2], d[3]} {
				t.Fatalf("row %s of shape %v in a batch of %v", k, s, d[1:])
			}
		}
	}
	// 15/4 -> 3+1, 31/4 -> 7+1, 15/4 -> 3+1.
	if len(bs) != 16 {
		t.Fatalf("%d batches, want 16", len(bs))
	}
	again := epochBatches(t, mustOpen(t, []string{dir}, opts), 0)
	if !slices.Equal(keysOf(bs), keysOf(again)) {
		t.Fatal("bucketed order differs between two readers")
	}
	// Path order does not matter: the reader sorts.
	files, _ := ExpandPaths([]string{dir})
	slices.Reverse(files)
	rev := epochBatches(t, mustOpen(t, files, opts), 0)
	if !slices.Equal(keysOf(bs), keysOf(rev)) {
		t.Fatal("listing the shards in another order changed the batches")
	}
}

func TestWriterShardsBySizeAndShape(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxRows  int
		maxBytes int64
		shapes   [][3]int
		want     []int // rows per shard in completion order
	}{
		{"rows", 4, 0, nil, []int{4, 4, 2}},
		{"bytes", 0, 500, nil, []int{3, 3, 3, 1}}, // a row is 96+48+4 tensor bytes plus ~30 of strings: 3 rows pass 500
		{"shapes", 0, 0, [][3]int{{2, 3, 4}, {1, 1, 1}}, []int{5, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWriter(dir, WriterOptions{MaxRows: tc.maxRows, MaxBytes: tc.maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			shapes := tc.shapes
			if shapes == nil {
				shapes = [][3]int{{2, 3, 4}}
			}
			for i := 0; i < 10; i++ {
				if err := w.Write(testRow(i, shapes[i%len(shapes)], testText)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, s := range w.Shards() {
				got = append(got, s.Rows)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("shard rows %v, want %v", got, tc.want)
			}
			tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
			if len(tmp) != 0 {
				t.Fatalf("temporary files left: %v", tmp)
			}
		})
	}
}

func TestWriterRejects(t *testing.T) {
	nan := testRow(1, [3]int{2, 3, 4}, testText)
	nan.Latent[5] = float32(nanValue())
	short := testRow(2, [3]int{2, 3, 4}, testText)
	short.Latent = short.Latent[:10]
	badMask := testRow(3, [3]int{2, 3, 4}, testText)
	badMask.TextMask[0] = 0.5
	otherText := testRow(4, [3]int{2, 3, 4}, [2]int{5, 3})
	for _, tc := range []struct {
		name string
		row  *Row
		want string
	}{
		{"nan", nan, `key "row-00001": latent element 5 is NaN, want finite values`},
		{"short", short, `key "row-00002": latent has 10 values, want 24 for shape [2 3 4]`},
		{"mask", badMask, `key "row-00003": text_mask element 0 is 0.5, want 0 or 1`},
		{"text shape", otherText, `text_embedding shape [5 3] differs from the dataset's [4 3]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(t.TempDir(), WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Write(testRow(0, [3]int{2, 3, 4}, testText)); err != nil {
				t.Fatal(err)
			}
			err = w.Write(tc.row)
			assertErrContains(t, err, tc.want)
		})
	}
	dir := writeDataset(t, datasetSpec{rows: 1})
	_, err := NewWriter(dir, WriterOptions{})
	assertErrContains(t, err, "already holds 1 shard(s) matching shard-*.parquet")
	if _, err := NewWriter(dir, WriterOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
}
