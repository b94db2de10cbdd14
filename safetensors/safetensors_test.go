package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"
)

// sampleTensors returns one tensor of every dtype the tests cover, with distinct values.
func sampleTensors() map[string]*tensors.Tensor {
	return map[string]*tensors.Tensor{
		"f32":  tensors.FromFlatDataAndDimensions([]float32{1.5, -2, 3.25, 4, 5, 6}, 2, 3),
		"f64":  tensors.FromFlatDataAndDimensions([]float64{1e-300, -7.125, 3}, 3),
		"bf16": tensors.FromFlatDataAndDimensions(bfloat16.FromFloat32s(0.5, -1.75, 2, 1e3), 2, 2),
		"f16": tensors.FromFlatDataAndDimensions([]float16.Float16{
			float16.FromFloat32(0.25), float16.FromFloat32(-3.5)}, 1, 2),
		"i64":    tensors.FromFlatDataAndDimensions([]int64{-1 << 40, 7}, 2),
		"i32":    tensors.FromFlatDataAndDimensions([]int32{-5, 9, 11}, 3, 1),
		"u8":     tensors.FromFlatDataAndDimensions([]uint8{0, 255, 17, 3}, 4),
		"scalar": tensors.FromScalar(float32(42)),
		"empty":  tensors.FromFlatDataAndDimensions([]float32{}, 0, 4),
	}
}

func TestSafetensorsRoundTripEachDType(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "all.safetensors")
	in := sampleTensors()
	md := map[string]string{"format": "pt", "note": "ünïcode \"quoted\""}
	if err := WriteFile(path, in, md); err != nil {
		t.Fatal(err)
	}
	out, gotMD, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d tensors, wrote %d", len(out), len(in))
	}
	for name, want := range in {
		got := out[name]
		if got == nil {
			t.Fatalf("tensor %q missing after round trip", name)
		}
		if !got.Shape().Equal(want.Shape()) {
			t.Errorf("%s: shape %s, want %s", name, got.Shape(), want.Shape())
			continue
		}
		if !bytesEqual(t, got, want) {
			t.Errorf("%s: data differ after round trip: got %v want %v", name, got, want)
		}
	}
	if len(gotMD) != 2 || gotMD["format"] != "pt" || gotMD["note"] != md["note"] {
		t.Errorf("metadata = %v, want %v", gotMD, md)
	}
	// The temporary file was renamed away.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after an atomic write, want 1", len(entries))
	}
	infos, _, err := ReadHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(in) || infos[0].Name != "bf16" || infos[0].DType != dtypes.BFloat16 {
		t.Errorf("header infos = %+v", infos)
	}
}

func bytesEqual(t *testing.T, a, b *tensors.Tensor) bool {
	t.Helper()
	if a.Size() == 0 || b.Size() == 0 {
		return a.Size() == b.Size()
	}
	var ab, bb []byte
	if err := a.ConstBytes(func(d []byte) { ab = bytes.Clone(d) }); err != nil {
		t.Fatal(err)
	}
	if err := b.ConstBytes(func(d []byte) { bb = bytes.Clone(d) }); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ab, bb)
}

// TestSafetensorsGoldenBytes checks the exact byte layout against a hand-written file:
// length prefix, JSON header with "__metadata__" first and sorted names, space padding
// to 8 bytes, then the raw little-endian data in name order.
func TestSafetensorsGoldenBytes(t *testing.T) {
	named := map[string]*tensors.Tensor{
		"b": tensors.FromFlatDataAndDimensions([]bfloat16.BFloat16{bfloat16.FromBits(0x3f80)}, 1, 1),
		"a": tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2),
	}
	var buf bytes.Buffer
	if err := Write(&buf, named, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	header := `{"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"b":{"dtype":"BF16","shape":[1,1],"data_offsets":[8,10]}}` + "  " // 142 + 2 spaces = 144
	want := []byte{144, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, header...)
	want = append(want, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40) // float32 1, 2
	want = append(want, 0x80, 0x3f)                                     // bfloat16 1
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("bytes differ:\n got %q\nwant %q", buf.Bytes(), want)
	}

	// No metadata: the key is left out.
	buf.Reset()
	if err := Write(&buf, map[string]*tensors.Tensor{"x": tensors.FromScalar(int32(7))}, nil); err != nil {
		t.Fatal(err)
	}
	wantHeader := `{"x":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}` // 53 bytes -> 56
	n := binary.LittleEndian.Uint64(buf.Bytes()[:8])
	if n != 56 || string(buf.Bytes()[8:8+n]) != wantHeader+"   " {
		t.Fatalf("header = %q (len %d), want %q", buf.Bytes()[8:8+n], n, wantHeader+"   ")
	}
}

func TestSafetensorsWriteErrors(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, map[string]*tensors.Tensor{"c": tensors.FromScalar(complex64(1))}, nil)
	if err == nil || !strings.Contains(err.Error(), `"c"`) {
		t.Errorf("complex tensor: err = %v, want an error naming the tensor", err)
	}
	err = Write(&buf, map[string]*tensors.Tensor{"__metadata__": tensors.FromScalar(float32(1))}, nil)
	if err == nil {
		t.Error("reserved name accepted")
	}
	err = WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir.safetensors"), sampleTensors(), nil)
	if err == nil || !strings.Contains(err.Error(), "dir.safetensors") {
		t.Errorf("missing directory: err = %v, want an error naming the file", err)
	}
}

func TestSafetensorsReadErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := WriteFile(good, map[string]*tensors.Tensor{"w": tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4}, 4)}, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withHeader := func(h string) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.LittleEndian, uint64(len(h)))
		b.WriteString(h)
		b.Write(make([]byte, 16))
		return b.Bytes()
	}
	cases := []struct {
		name, file string
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.safetensors"), []string{"nope.safetensors"}},
		{"short", write("short.safetensors", []byte{1, 2}), []string{"short.safetensors", "too short"}},
		{"truncated", write("trunc.safetensors", data[:len(data)-4]), []string{"trunc.safetensors", `"w"`}},
		{"huge header", write("huge.safetensors", []byte{0, 0, 0, 0, 0, 1, 0, 0, '{', '}'}), []string{"huge.safetensors", "header length"}},
		{"bad json", write("json.safetensors", withHeader(`{"w": [`)), []string{"json.safetensors"}},
		{"bad dtype", write("dtype.safetensors", withHeader(`{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}`)), []string{`"w"`, "Q7"}},
		{"bad offsets", write("off.safetensors", withHeader(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`)), []string{`"w"`, "outside"}},
		{"negative", write("neg.safetensors", withHeader(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`)), []string{`"w"`, "negative"}},
		{"size mismatch", write("size.safetensors", withHeader(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`)), []string{`"w"`, "needs 12"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadFile(c.file)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSafetensorsSharded(t *testing.T) {
	dir := t.TempDir()
	all := sampleTensors()
	shard1 := map[string]*tensors.Tensor{"f32": all["f32"], "bf16": all["bf16"]}
	shard2 := map[string]*tensors.Tensor{"i64": all["i64"]}
	if err := WriteFile(filepath.Join(dir, "m-00001-of-00002.safetensors"), shard1, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "m-00002-of-00002.safetensors"), shard2, nil); err != nil {
		t.Fatal(err)
	}
	idx := Index{Metadata: map[string]any{"total_size": 30}, WeightMap: map[string]string{
		"f32": "m-00001-of-00002.safetensors", "bf16": "m-00001-of-00002.safetensors", "i64": "m-00002-of-00002.safetensors",
	}}
	writeIndex := func(name string, idx Index) string {
		b, _ := json.Marshal(idx)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	indexPath := writeIndex("diffusion_pytorch_model.safetensors.index.json", idx)
	for _, path := range []string{indexPath, dir} { // the index itself, or its directory
		got, md, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || md["format"] != "pt" {
			t.Fatalf("got %d tensors, metadata %v", len(got), md)
		}
		for name, tensor := range got {
			if !bytesEqual(t, tensor, all[name]) {
				t.Errorf("%s differs", name)
			}
		}
	}

	// A tensor listed in the index but absent from its shard.
	bad := Index{WeightMap: map[string]string{"f32": "m-00001-of-00002.safetensors", "bf16": "m-00001-of-00002.safetensors",
		"i64": "m-00002-of-00002.safetensors", "ghost": "m-00002-of-00002.safetensors"}}
	_, _, err := ReadSharded(writeIndex("ghost.index.json", bad))
	if err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("ghost tensor: err = %v", err)
	}
	// A shard holding a tensor the index puts elsewhere.
	moved := Index{WeightMap: map[string]string{"f32": "m-00002-of-00002.safetensors", "bf16": "m-00001-of-00002.safetensors",
		"i64": "m-00002-of-00002.safetensors"}}
	_, _, err = ReadSharded(writeIndex("moved.index.json", moved))
	if err == nil || !strings.Contains(err.Error(), `"f32"`) {
		t.Errorf("moved tensor: err = %v", err)
	}
	// Shard names may not escape the index's directory.
	escape := Index{WeightMap: map[string]string{"f32": "../x.safetensors"}}
	_, _, err = ReadSharded(writeIndex("escape.index.json", escape))
	if err == nil || !strings.Contains(err.Error(), "../x.safetensors") {
		t.Errorf("escaping shard: err = %v", err)
	}
}
