package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// testValue is the value of element i of tensor part (0 latent, 1 text) of row id. All values are
// multiples of 1/8 in [-4, 4): exact in float32, float16 and bfloat16.
func testValue(id, part, i int) float32 {
	return float32((id*7+part*3+i)%64)/8 - 4
}

// testRow is row id with the given latent shape and text shape (L, D); its mask has id%L+1 tokens.
func testRow(id int, latent [3]int, text [2]int) *Row {
	r := &Row{
		Key:         fmt.Sprintf("row-%05d", id),
		Prompt:      fmt.Sprintf("prompt %d", id),
		LatentShape: latent,
		TextShape:   text,
		Latent:      make([]float32, latent[0]*latent[1]*latent[2]),
		// Text embedding rows beyond the mask are zero, like padded encoder outputs.
		TextEmbedding: make([]float32, text[0]*text[1]),
		TextMask:      make([]float32, text[0]),
		Category:      fmt.Sprintf("cat%d", id%3),
		Width:         8 * latent[2],
		Height:        8 * latent[1],
	}
	for i := range r.Latent {
		r.Latent[i] = testValue(id, 0, i)
	}
	n := id%text[0] + 1
	for i := 0; i < n*text[1]; i++ {
		r.TextEmbedding[i] = testValue(id, 1, i)
	}
	for i := 0; i < n; i++ {
		r.TextMask[i] = 1
	}
	if id%5 == 0 {
		r.Meta = fmt.Sprintf(`{"id":%d}`, id)
	}
	return r
}

var testText = [2]int{4, 3}

type datasetSpec struct {
	format           Format
	latentDT, textDT dtypes.DType
	rows             int
	shapes           [][3]int // row i gets shapes[i%len(shapes)]
	maxRows          int
	groupBytes       int64
	prefix           string
	control          bool // rows with control latents (controlRow)
}

// writeDataset writes spec into a fresh directory and returns it.
func writeDataset(t testing.TB, spec datasetSpec) string {
	t.Helper()
	dir := t.TempDir()
	if len(spec.shapes) == 0 {
		spec.shapes = [][3]int{{2, 3, 4}}
	}
	w, err := NewWriter(dir, WriterOptions{Format: spec.format, LatentDType: spec.latentDT, TextDType: spec.textDT,
		MaxRows: spec.maxRows, GroupBytes: spec.groupBytes, Prefix: spec.prefix})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < spec.rows; i++ {
		row := testRow(i, spec.shapes[i%len(spec.shapes)], testText)
		if spec.control {
			row = controlRow(i, spec.shapes[i%len(spec.shapes)])
		}
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustOpen(t testing.TB, paths []string, opts ReaderOptions) *Reader {
	t.Helper()
	r, err := Open(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// collect reads n batches from an iterator started at from.
func collect(t testing.TB, r *Reader, from Position, n int) []*Batch {
	t.Helper()
	it, err := r.Iterate(context.Background(), from)
	return drain(t, it, err, n)
}

// epochBatches reads a whole epoch.
func epochBatches(t testing.TB, r *Reader, epoch int) []*Batch {
	t.Helper()
	it, err := r.IterateEpoch(context.Background(), epoch)
	return drain(t, it, err, -1)
}

// drain reads n batches from it, or all of them up to io.EOF when n < 0, and closes it; it
// fails the test on any other error, err (the iterator's start) included.
func drain(t testing.TB, it *Iterator, err error, n int) []*Batch {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []*Batch
	for n < 0 || len(out) < n {
		b, err := it.Next()
		if n < 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func keysOf(bs []*Batch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Keys...)
	}
	return out
}

func float32s(t testing.TB, x *tensors.Tensor) []float32 {
	t.Helper()
	v, err := tensorFloat32(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rawShard is a hand-made shard for the bad-input tests: values are written as given, unchecked.
type rawShard struct {
	schema *arrow.Schema
	keys   []*string // nil entry: null key
	latent [][]byte
	text   [][]byte
	mask   [][]byte
}

// goodRawShard is n valid rows of layout l (float32 tensors), as raw bytes.
func goodRawShard(l Layout, n int) *rawShard {
	rs := &rawShard{schema: arrowSchema(l, 0, nil)}
	for i := 0; i < n; i++ {
		row := testRow(i, l.LatentShape, l.TextShape)
		k := row.Key
		rs.keys = append(rs.keys, &k)
		rs.latent = append(rs.latent, encodeFloat32(nil, row.Latent, l.LatentDType))
		rs.text = append(rs.text, encodeFloat32(nil, row.TextEmbedding, l.TextDType))
		m := make([]byte, len(row.TextMask))
		for j, v := range row.TextMask {
			m[j] = byte(v)
		}
		rs.mask = append(rs.mask, m)
	}
	return rs
}

func (rs *rawShard) write(t testing.TB, path string, format Format) {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, rs.schema)
	defer b.Release()
	for i := range rs.keys {
		for f, field := range rs.schema.Fields() {
			fb := b.Field(f)
			switch field.Name {
			case ColKey:
				if rs.keys[i] == nil {
					fb.AppendNull()
				} else {
					fb.(*array.StringBuilder).Append(*rs.keys[i])
				}
			case ColPrompt:
				fb.(*array.StringBuilder).Append("p")
			case ColLatent, ColTextEmbedding, ColTextMask:
				v := map[string][]byte{ColLatent: rs.latent[i], ColTextEmbedding: rs.text[i], ColTextMask: rs.mask[i]}[field.Name]
				switch bb := fb.(type) {
				case *array.BinaryBuilder:
					bb.Append(v)
				case *array.FixedSizeBinaryBuilder:
					bb.Append(v)
				case *array.StringBuilder:
					bb.Append(string(v))
				}
			default:
				fb.AppendNull()
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w interface {
		Write(arrow.Record) error
		Close() error
	}
	if format == FormatParquet {
		w, err = pqarrow.NewFileWriter(rs.schema, writeOnly{f}, nil, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	} else {
		w, err = ipc.NewFileWriter(f, ipc.WithSchema(rs.schema))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func shardPath(dir string, format Format, name string) string {
	return filepath.Join(dir, name+format.Ext())
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
