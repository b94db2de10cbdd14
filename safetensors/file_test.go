package safetensors

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes/float16"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	in := []Float32Tensor{
		{Name: "a.weight", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "scalar", Shape: nil, Data: []float32{7.5}},
	}
	if err := WriteFloat32File(path, in); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Names(); len(got) != 2 || got[0] != "a.weight" || got[1] != "scalar" {
		t.Fatalf("names %v", got)
	}
	data, shape, err := f.Float32("a.weight")
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 || shape[0] != 2 || shape[1] != 3 || data[5] != 6 {
		t.Fatalf("got %v %v", shape, data)
	}
	s, shape, err := f.Float32("scalar")
	if err != nil || len(shape) != 0 || s[0] != 7.5 {
		t.Fatalf("scalar %v %v %v", s, shape, err)
	}
	if _, _, err := f.Float32("missing"); err == nil {
		t.Fatal("expected an error for a missing tensor")
	}
}

func TestHalfPrecision(t *testing.T) {
	// Hand-written file: one F16 tensor [1, -2, 0.5, 65504] and one BF16 tensor [1, -3].
	hdr := []byte(`{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}`)
	var buf []byte
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	for _, h := range []uint16{0x3c00, 0xc000, 0x3800, 0x7bff, 0x3f80, 0xc040} {
		buf = binary.LittleEndian.AppendUint16(buf, h)
	}
	path := filepath.Join(t.TempDir(), "h.safetensors")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, _, err := f.Float32("h")
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, -2, 0.5, 65504}
	for i := range want {
		if h[i] != want[i] {
			t.Fatalf("F16 %v want %v", h, want)
		}
	}
	b, _, err := f.Float32("b")
	if err != nil || b[0] != 1 || b[1] != -3 {
		t.Fatalf("BF16 %v %v", b, err)
	}
}

func TestRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(path, []byte("not a safetensors file at all"), 0o644)
	if _, err := Open(path); err == nil {
		t.Fatal("expected an error")
	}
}

func TestNonFiniteWeightsAreNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	nan := float32(math.NaN())
	if err := WriteFloat32File(path, []Float32Tensor{{Name: "ok", Shape: []int{2}, Data: []float32{1, 2}}, {Name: "bad", Shape: []int{3}, Data: []float32{1, nan, float32(math.Inf(1))}}}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := f.Float32("ok"); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.Float32("bad")
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Count != 2 || nf.First != 1 || nf.Tensor != "bad" || !strings.Contains(err.Error(), path) {
		t.Fatalf("lazy read: %v", err)
	}
	named, _, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFinite(path, "ok", named["ok"]); err != nil {
		t.Fatal(err)
	}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16, dtypes.Float16} {
		bad, err := convertForTest(named["bad"], dt)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckFinite(path, "bad", bad); !errors.As(err, &nf) || nf.Count != 2 || nf.First != 1 {
			t.Errorf("%s: %v", dt, err)
		}
	}
}

// convertForTest converts a float32 tensor to dt.
func convertForTest(t *tensors.Tensor, dt dtypes.DType) (*tensors.Tensor, error) {
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, err
	}
	dims := t.Shape().Dimensions
	switch dt {
	case dtypes.Float64:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return tensors.FromFlatDataAndDimensions(out, dims...), nil
	case dtypes.BFloat16:
		out := make([]bfloat16.BFloat16, len(v))
		for i, x := range v {
			out[i] = bfloat16.FromFloat32(x)
		}
		return tensors.FromFlatDataAndDimensions(out, dims...), nil
	case dtypes.Float16:
		out := make([]float16.Float16, len(v))
		for i, x := range v {
			out[i] = float16.FromFloat32(x)
		}
		return tensors.FromFlatDataAndDimensions(out, dims...), nil
	}
	return t, nil
}
