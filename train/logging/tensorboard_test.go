package logging

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readRecords parses a TFRecord file, checking both masked CRCs of every record.
func readRecords(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	table := crc32.MakeTable(crc32.Castagnoli)
	mask := func(d []byte) uint32 {
		c := crc32.Checksum(d, table)
		return ((c >> 15) | (c << 17)) + 0xa282ead8
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("truncated record header (%d bytes left)", len(b))
		}
		n := binary.LittleEndian.Uint64(b[:8])
		if got := binary.LittleEndian.Uint32(b[8:12]); got != mask(b[:8]) {
			t.Fatalf("length CRC %08x, want %08x", got, mask(b[:8]))
		}
		if uint64(len(b)) < 12+n+4 {
			t.Fatalf("truncated record data")
		}
		data := b[12 : 12+n]
		if got := binary.LittleEndian.Uint32(b[12+n : 16+n]); got != mask(data) {
			t.Fatalf("data CRC %08x, want %08x", got, mask(data))
		}
		out = append(out, data)
		b = b[16+n:]
	}
	return out
}

// field is one decoded protobuf field.
type field struct {
	num, wire int
	u         uint64 // varint, fixed64, fixed32
	b         []byte // length-delimited
}

// decodeProto decodes one message's fields with the wire format rules.
func decodeProto(t *testing.T, b []byte) []field {
	t.Helper()
	var out []field
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			t.Fatal("bad key varint")
		}
		b = b[n:]
		f := field{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				t.Fatal("bad varint")
			}
			f.u, b = v, b[n:]
		case 1:
			f.u, b = binary.LittleEndian.Uint64(b[:8]), b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				t.Fatal("bad length")
			}
			f.b, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			f.u, b = uint64(binary.LittleEndian.Uint32(b[:4])), b[4:]
		default:
			t.Fatalf("unexpected wire type %d", f.wire)
		}
		out = append(out, f)
	}
	return out
}

// tbEvent is a decoded Event.
type tbEvent struct {
	wallTime    float64
	step        int64
	fileVersion string
	scalars     map[string]float32
	images      map[string][]field
}

func decodeEvent(t *testing.T, b []byte) tbEvent {
	ev := tbEvent{scalars: map[string]float32{}, images: map[string][]field{}}
	for _, f := range decodeProto(t, b) {
		switch f.num {
		case 1:
			ev.wallTime = math.Float64frombits(f.u)
		case 2:
			ev.step = int64(f.u)
		case 3:
			ev.fileVersion = string(f.b)
		case 5:
			for _, v := range decodeProto(t, f.b) {
				if v.num != 1 {
					t.Fatalf("summary field %d", v.num)
				}
				var tag string
				var simple *float32
				var img []field
				for _, vf := range decodeProto(t, v.b) {
					switch vf.num {
					case 1:
						tag = string(vf.b)
					case 2:
						x := math.Float32frombits(uint32(vf.u))
						simple = &x
					case 4:
						img = decodeProto(t, vf.b)
					}
				}
				if simple != nil {
					ev.scalars[tag] = *simple
				}
				if img != nil {
					ev.images[tag] = img
				}
			}
		}
	}
	return ev
}

func TestTensorBoardRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tb, err := NewTensorBoard(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Scalars(10, map[string]float64{"g/loss": 0.25, "d/loss": -1.5, "lr": 2e-6}); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255 // opaque: PNG without alpha, colorspace 3
	}
	img.Set(1, 1, color.RGBA{R: 200, G: 10, B: 30, A: 255})
	if err := tb.Images(20, map[string]image.Image{"samples/1step": img}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Scalars(1<<40, map[string]float64{"big": 1}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(tb.Path()), "events.out.tfevents.") {
		t.Fatalf("file name %s", tb.Path())
	}
	recs := readRecords(t, tb.Path())
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	first := decodeEvent(t, recs[0])
	if first.fileVersion != "brain.Event:2" || first.wallTime < 1e9 {
		t.Fatalf("first event %+v", first)
	}
	sc := decodeEvent(t, recs[1])
	if sc.step != 10 || sc.scalars["g/loss"] != 0.25 || sc.scalars["d/loss"] != -1.5 || sc.scalars["lr"] != float32(2e-6) {
		t.Fatalf("scalar event %+v", sc)
	}
	im := decodeEvent(t, recs[2])
	fields := im.images["samples/1step"]
	if im.step != 20 || len(fields) != 4 {
		t.Fatalf("image event %+v", im)
	}
	h, w, cs := fields[0].u, fields[1].u, fields[2].u
	if h != 2 || w != 3 || cs != 3 {
		t.Fatalf("image height %d width %d colorspace %d", h, w, cs)
	}
	decoded, err := png.Decode(bytes.NewReader(fields[3].b))
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := decoded.At(1, 1).RGBA(); r>>8 != 200 || g>>8 != 10 || b>>8 != 30 {
		t.Fatalf("pixel %d %d %d", r>>8, g>>8, b>>8)
	}
	if big := decodeEvent(t, recs[3]); big.step != 1<<40 {
		t.Fatalf("step %d", big.step)
	}
}

// TestMaskedCRC32C checks the mask against a value computed independently: the CRC-32C of
// "123456789" is 0xe3069283 (the standard check value).
func TestMaskedCRC32C(t *testing.T) {
	c := uint32(0xe3069283)
	want := ((c >> 15) | (c << 17)) + 0xa282ead8
	if got := MaskedCRC32C([]byte("123456789")); got != want {
		t.Fatalf("MaskedCRC32C = %08x, want %08x", got, want)
	}
}

func TestJSONL(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	for round := range 2 { // the second open appends, as a resumed run does
		j, err := NewJSONL(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Scalars(int64(round+1), map[string]float64{"g/loss": 0.5, "bad": math.NaN(), "inf": math.Inf(-1)}); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var rows []map[string]any
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	if len(rows) != 2 || rows[1]["step"] != 2.0 || rows[0]["g/loss"] != 0.5 || rows[0]["bad"] != "NaN" || rows[0]["inf"] != "-Infinity" {
		t.Fatalf("rows %v", rows)
	}
	if _, ok := rows[0]["time"].(string); !ok {
		t.Fatalf("no time in %v", rows[0])
	}
}

type failSink struct{ err error }

func (f failSink) Scalars(int64, map[string]float64) error      { return f.err }
func (f failSink) Images(int64, map[string]image.Image) error   { return f.err }
func (f failSink) Close() error                                 { return f.err }
func (f *countSink) Scalars(int64, map[string]float64) error    { f.n++; return nil }
func (f *countSink) Images(int64, map[string]image.Image) error { f.n++; return nil }
func (f *countSink) Close() error                               { f.n++; return nil }

type countSink struct{ n int }

func TestMultiCallsEverySink(t *testing.T) {
	c := &countSink{}
	m := Multi{failSink{errors.New("boom")}, c}
	if err := m.Scalars(1, nil); err == nil || c.n != 1 {
		t.Fatalf("err %v, calls %d", err, c.n)
	}
	if err := m.Close(); err == nil || c.n != 2 {
		t.Fatalf("err %v, calls %d", err, c.n)
	}
}
