package safetensors

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// TestMatch: Match hands keep exactly the listed tensors of the listed dimensions, and sorts
// the rest into missing (specs' order), unexpected and mis-shaped, with keep's refusals.
func TestMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, sampleTensors(), nil); err != nil {
		t.Fatal(err)
	}
	specs := []Spec{
		{Name: "f32", Dims: []int{2, 3}}, {Name: "gone", Dims: []int{1}}, {Name: "f64", Dims: []int{4}},
		{Name: "i32", Dims: []int{3, 1}}, {Name: "scalar"}, {Name: "also gone"},
	}
	var kept []string
	missing, unexpected, misshaped, err := Match(path, specs, func(name string, x *tensors.Tensor) (string, error) {
		if !x.DType().IsFloat() {
			return name + ": stored as " + x.DType().String(), nil
		}
		kept = append(kept, name)
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(kept) // the others in the checkpoint's order, missing in specs'
	slices.Sort(unexpected)
	slices.Sort(misshaped)
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"kept", kept, []string{"f32", "scalar"}},
		{"missing", missing, []string{"gone", "also gone"}},
		{"unexpected", unexpected, []string{"bf16", "empty", "f16", "i64", "u8"}},
		{"mis-shaped", misshaped, []string{"f64: have [3], want [4]", "i32: stored as Int32"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}

	stop := errors.New("stop")
	if _, _, _, err := Match(path, specs, func(string, *tensors.Tensor) (string, error) { return "", stop }); !errors.Is(err, stop) {
		t.Errorf("keep's error: got %v", err)
	}
	if _, _, _, err := Match(filepath.Join(t.TempDir(), "none.safetensors"), specs, nil); err == nil {
		t.Error("a missing file must be an error")
	}
}

func TestCount(t *testing.T) {
	specs := []Spec{{Name: "a.w", Dims: []int{2, 3}}, {Name: "b.w", Dims: []int{4}}, {Name: "a.b", Dims: []int{3}}, {Name: "s"}}
	perGroup, total := Count(specs, func(name string) string { return name[:1] })
	if total != 14 || perGroup["a"] != 9 || perGroup["b"] != 4 || perGroup["s"] != 1 || len(perGroup) != 3 {
		t.Errorf("Count = %v, %d", perGroup, total)
	}
}
