package prepare

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// TestBuckets: SANA's tables, the nearest-ratio rule and the cover-resize sizes.
func TestBuckets(t *testing.T) {
	for _, res := range []int{512, 1024} {
		bs, err := Buckets(res)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 40 {
			t.Errorf("%d: %d buckets, want 40", res, len(bs))
		}
		prev := 0.0
		for _, b := range bs {
			r, _ := strconv.ParseFloat(b.Ratio, 64)
			if r <= prev || b.Height%32 != 0 || b.Width%32 != 0 {
				t.Errorf("%d: bucket %+v out of order or not a multiple of 32", res, b)
			}
			prev = r
			// Every key is within 0.06 of its own height/width (the tables round loosely).
			if d := r - float64(b.Height)/float64(b.Width); d > 0.06 || d < -0.06 {
				t.Errorf("%d: bucket %+v ratio is %.3f", res, b, float64(b.Height)/float64(b.Width))
			}
		}
	}
	if _, err := Buckets(768); err == nil {
		t.Error("768 accepted")
	}
	b1024, _ := Buckets(1024)
	for _, tc := range []struct {
		w, h   int
		ratio  string
		bw, bh int
	}{
		{1024, 1024, "1.0", 1024, 1024},
		{1920, 1080, "0.57", 1344, 768}, // 0.5625: |0.57−r| = 0.0075 < |0.52−r|
		{1080, 1920, "1.75", 768, 1344}, // 1.778: nearest 1.75
		{4000, 500, "0.25", 2048, 512},
		{500, 4000, "4.0", 512, 2048},
		{800, 600, "0.72", 1152, 832}, // 0.75: an exact tie in float64 with 0.78; the first key wins, as in Python
	} {
		i, err := NearestBucket(b1024, tc.w, tc.h)
		if err != nil {
			t.Fatal(err)
		}
		if b := b1024[i]; b.Ratio != tc.ratio || b.Width != tc.bw || b.Height != tc.bh {
			t.Errorf("%dx%d: bucket %+v, want %s (%dx%d)", tc.w, tc.h, b, tc.ratio, tc.bw, tc.bh)
		}
	}
	if _, err := NearestBucket(b1024, 0, 10); err == nil {
		t.Error("zero width accepted")
	}
	// Cover-resize: 1920x1080 into 1344x768: 768/1080 = 0.711 > 1344/1920 = 0.7 → height 768,
	// width int(1920·768/1080) = int(1365.33) = 1365; 1080x1920 into 768x1344: width 768,
	// height int(1920·768/1080) = 1365.
	if w, h := ResizeSize(1920, 1080, 1344, 768); w != 1365 || h != 768 {
		t.Errorf("ResizeSize 1920x1080 → %dx%d", w, h)
	}
	if w, h := ResizeSize(1080, 1920, 768, 1344); w != 768 || h != 1365 {
		t.Errorf("ResizeSize 1080x1920 → %dx%d", w, h)
	}
	m := imaging.NewRGB8(60, 30)
	for y := range 30 {
		for x := range 60 {
			m.Pix[(y*60+x)*3] = uint8(4 * x)
		}
	}
	out, err := ResizeCrop(m, Bucket{"0.5", 16, 32})
	if err != nil {
		t.Fatal(err)
	}
	if out.Width != 32 || out.Height != 16 {
		t.Fatalf("ResizeCrop → %dx%d", out.Width, out.Height)
	}
	// 60x30 → cover 32x16 exactly (16/30 = 32/60): no crop; the bicubic resize of a linear ramp
	// stays increasing.
	for x := 1; x < 32; x++ {
		if out.At(x, 8, 0) <= out.At(x-1, 8, 0) {
			t.Fatalf("resized ramp not increasing at %d: %d ≤ %d", x, out.At(x, 8, 0), out.At(x-1, 8, 0))
		}
	}
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSources: folder, JSONL and Parquet (binary and Hugging Face struct image columns) listings,
// and their errors.
func TestSources(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	makeFolder(t, dir, 6)
	items, err := Folder{Dir: dir}.Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 6 || items[0].Key != "img00" || items[5].Key != "sub/img04" || items[0].Width != 20 || items[0].Height != 10 {
		t.Fatalf("folder items %+v", items)
	}
	if img, err := items[2].Load(); err != nil || img.Width != 12 || img.Height != 25 {
		t.Fatalf("load: %v", err)
	}
	_ = os.Remove(filepath.Join(dir, "img01.txt"))
	if _, err := (Folder{Dir: dir}).Items(ctx); err == nil || !strings.Contains(err.Error(), "img01.txt") {
		t.Errorf("missing caption: %v", err)
	}

	jl := filepath.Join(dir, "list.jsonl")
	_ = os.WriteFile(jl, []byte(`{"path": "img00.png", "caption": "first"}

{"path": "sub/img04.png", "caption": "second", "key": "k2"}
`), 0o644)
	items, err = JSONL{Path: jl}.Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Key != "img00" || items[0].Caption != "first" || items[1].Key != "k2" {
		t.Fatalf("jsonl items %+v", items)
	}
	for _, bad := range []struct{ text, want string }{
		{`{"path": "img00.png"}`, "line 1: want non-empty \"path\" and a \"caption\""},
		{`{"path": "img00.png", "caption": "x", "extra": 1}` + "\n", "line 1: json: unknown field"},
		{`{"path": "img00.png", "caption": "a"}` + "\n" + `{"path": "img00.png", "caption": "b"}`, `key "img00" is used by`},
		{`{"path": "nope.png", "caption": "a"}`, "line 1: image: open"},
	} {
		_ = os.WriteFile(jl, []byte(bad.text), 0o644)
		if _, err := (JSONL{Path: jl}).Items(ctx); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.text, err, bad.want)
		}
	}

	// Parquet with a Hugging Face style image struct, a "text" caption column and two row groups.
	pq := filepath.Join(dir, "data.parquet")
	writeParquet(t, pq, true)
	items, err = Parquet{Path: pq}.Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 5 || items[3].Key != "row-00000003" || items[3].Caption != "caption 3" || items[3].Width != 13 || items[3].Height != 8 {
		t.Fatalf("parquet items %+v", items)
	}
	for _, i := range []int{4, 0, 3} { // across row groups and back
		img, err := items[i].Load()
		if err != nil || img.Width != 10+i {
			t.Fatalf("parquet load %d: %v", i, err)
		}
	}
	writeParquet(t, pq, false)
	items, err = Parquet{Path: pq, Columns: ParquetColumns{Image: "img", Caption: "text", Key: "id"}}.Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if items[2].Key != "id-2" {
		t.Errorf("parquet key column: %+v", items[2])
	}
	if _, err := (Parquet{Path: pq}).Items(ctx); err == nil || !strings.Contains(err.Error(), `no image column "image" (columns: img, text, id)`) {
		t.Errorf("wrong image column: %v", err)
	}
	if src, err := OpenSource(pq, ParquetColumns{}); err != nil || src.(Parquet).Path != pq {
		t.Errorf("OpenSource parquet: %v", err)
	}
	if _, err := OpenSource(filepath.Join(dir, "img00.png"), ParquetColumns{}); err == nil {
		t.Error("OpenSource accepted a png")
	}
}

// writeParquet writes 5 rows in row groups of 3: images of width 10+i and height 8; with hf, the
// image column is "image" struct{bytes, path} and there is no key column.
func writeParquet(t *testing.T, path string, hf bool) {
	t.Helper()
	mem := memory.DefaultAllocator
	var fields []arrow.Field
	imgStruct := arrow.StructOf(arrow.Field{Name: "bytes", Type: arrow.BinaryTypes.Binary, Nullable: true},
		arrow.Field{Name: "path", Type: arrow.BinaryTypes.String, Nullable: true})
	if hf {
		fields = []arrow.Field{{Name: "image", Type: imgStruct}, {Name: "text", Type: arrow.BinaryTypes.String}}
	} else {
		fields = []arrow.Field{{Name: "img", Type: arrow.BinaryTypes.Binary}, {Name: "text", Type: arrow.BinaryTypes.String},
			{Name: "id", Type: arrow.BinaryTypes.String}}
	}
	schema := arrow.NewSchema(fields, nil)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(3)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 5 {
		img := pngBytes(t, 10+i, 8)
		if hf {
			sb := b.Field(0).(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.BinaryBuilder).Append(img)
			sb.FieldBuilder(1).(*array.StringBuilder).Append(fmt.Sprintf("%d.png", i))
		} else {
			b.Field(0).(*array.BinaryBuilder).Append(img)
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("id-%d", i))
		}
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("caption %d", i))
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
