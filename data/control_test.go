package data

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
)

// controlRow is testRow with a control latent (values distinct from the latent's).
func controlRow(id int, latent [3]int) *Row {
	r := testRow(id, latent, testText)
	r.Control = make([]float32, len(r.Latent))
	for i := range r.Control {
		r.Control[i] = testValue(id, 2, i)
	}
	return r
}

// TestControlColumnRoundTrip: rows with control latents are written in both containers and
// in a half-precision dtype, and read back exactly through ReadRow, batches and Verify (whose
// statistics count the control values); the layout says the shards have control latents.
func TestControlColumnRoundTrip(t *testing.T) {
	shape := [3]int{2, 3, 4}
	for _, format := range []Format{FormatParquet, FormatArrow} {
		for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
			dir := writeDataset(t, datasetSpec{format: format, latentDT: dt, rows: 12, shapes: [][3]int{shape}, maxRows: 5, control: true})
			r := mustOpen(t, []string{dir}, ReaderOptions{BatchSize: 4})
			for _, s := range r.Shards() {
				if !s.Layout.Control || !strings.HasSuffix(s.Layout.String(), " control") {
					t.Fatalf("%s: layout %s has no control", s.Path, s.Layout)
				}
			}
			row, err := r.ReadRow(context.Background(), r.Ref(7))
			if err != nil {
				t.Fatal(err)
			}
			want := controlRow(7, shape)
			if !slices.Equal(row.Control, want.Control) || !slices.Equal(row.Latent, want.Latent) {
				t.Fatalf("%s %s: row 7 control %v, want %v", format, dt, row.Control, want.Control)
			}
			for _, b := range epochBatches(t, r, 0) {
				if b.Control == nil || !slices.Equal(b.Control.Shape().Dimensions, []int{4, 2, 3, 4}) {
					t.Fatalf("batch control %v", b.Control)
				}
				ctl := float32s(t, b.Control)
				for k, key := range b.Keys {
					var id int
					for _, c := range strings.TrimPrefix(key, "row-") {
						id = id*10 + int(c-'0')
					}
					if !slices.Equal(ctl[k*24:(k+1)*24], controlRow(id, shape).Control) {
						t.Fatalf("batch row %s: control differs", key)
					}
				}
			}
			rep, err := r.Verify(context.Background(), nil)
			if err != nil || !rep.OK() || rep.Stats.Control.Count != 12*24 {
				t.Fatalf("verify: %+v %v", rep, err)
			}
		}
	}
}

// TestControlColumnErrors: a dataset mixing rows (or shards) with and without control latents,
// a control latent of the wrong size and a non-finite one are refused, naming the key or shard.
func TestControlColumnErrors(t *testing.T) {
	shape := [3]int{2, 3, 4}
	w, err := NewWriter(t.TempDir(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(controlRow(0, shape)); err != nil {
		t.Fatal(err)
	}
	assertErrContains(t, w.Write(testRow(1, shape, testText)), `row key "row-00001": has no control latent`)
	bad := controlRow(2, shape)
	bad.Control = bad.Control[:5]
	assertErrContains(t, w.Write(bad), `key "row-00002": control has 5 values, want 24`)
	bad = controlRow(3, shape)
	bad.Control[4] = float32(math.NaN())
	assertErrContains(t, w.Write(bad), `key "row-00003": control element 4 is NaN`)
	w.Abort()

	withCtl := writeDataset(t, datasetSpec{rows: 4, shapes: [][3]int{shape}, prefix: "z", control: true})
	without := writeDataset(t, datasetSpec{rows: 4})
	_, err = Open([]string{without, withCtl}, ReaderOptions{BatchSize: 2})
	assertErrContains(t, err, "has no control latents, but shard")
}

// TestControlImage: the outline of a square is its boundary ring, that of every shape lies on
// the shape (Covers) and touches its outside; the control latent decodes to the control image.
func TestControlImage(t *testing.T) {
	sq := Scene{Size: 16, Objects: []Object{{Shape: ShapeSquare, Color: "red", Box: [4]int{2, 3, 7, 8}}}}
	img, err := ControlImage(sq)
	if err != nil {
		t.Fatal(err)
	}
	white := 0
	for y := range 16 {
		for x := range 16 {
			c := img.RGBAAt(x, y)
			onRing := x >= 2 && x < 7 && y >= 3 && y < 8 && (x == 2 || x == 6 || y == 3 || y == 7)
			if (c == ControlColor) != onRing {
				t.Fatalf("square outline pixel (%d,%d) = %v, want ring %v", x, y, c, onRing)
			}
			if c == ControlColor {
				white++
			}
		}
	}
	if white != 16 {
		t.Errorf("%d outline pixels for a 5×5 square, want 16", white)
	}
	for _, shape := range ShapeClasses {
		o := Object{Shape: shape, Color: "blue", Box: [4]int{1, 1, 11, 11}}
		img, err := ControlImage(Scene{Size: 12, Objects: []Object{o}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for y := range 12 {
			for x := range 12 {
				if img.RGBAAt(x, y) != ControlColor {
					continue
				}
				n++
				if !o.Covers(x, y) {
					t.Fatalf("%s: outline pixel (%d,%d) is not on the shape", shape, x, y)
				}
				if o.Covers(x-1, y) && o.Covers(x+1, y) && o.Covers(x, y-1) && o.Covers(x, y+1) {
					t.Fatalf("%s: interior pixel (%d,%d) marked", shape, x, y)
				}
			}
		}
		if n < 10 {
			t.Errorf("%s: only %d outline pixels", shape, n)
		}
	}
	lat, ls, err := ShapesControlLatent(sq, 2)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeLatentFlat(lat, ls)
	if err != nil {
		t.Fatal(err)
	}
	if ls != [3]int{12, 8, 8} || !slices.Equal(back.Pix, img.Pix) {
		t.Fatalf("control latent %v does not decode to the control image", ls)
	}
}

// TestShapesWithControl: data.shapes.control "outline" gives every row the control latent of
// its own scene; an unknown value is a config error naming the key.
func TestShapesWithControl(t *testing.T) {
	cfg := DefaultShapesConfig()
	cfg.NumSamples, cfg.ShardRows, cfg.Control = 40, 40, ShapesControlOutline
	dir := t.TempDir()
	if err := MakeShapes(cfg, dir); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, []string{dir}, ReaderOptions{BatchSize: 8})
	for i := range 3 {
		row, err := r.ReadRow(context.Background(), r.Ref(i))
		if err != nil {
			t.Fatal(err)
		}
		scene, err := ParseScene(row.Meta)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := ShapesControlLatent(scene, cfg.Patch)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(row.Control, want) {
			t.Fatalf("row %d: control is not its scene's outline latent", i)
		}
	}
	cfg.Control = "edges"
	assertErrContains(t, cfg.Validate(), `data.shapes.control: "edges"`)
}
