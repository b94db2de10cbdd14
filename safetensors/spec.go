package safetensors

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
)

// Spec is one tensor a checkpoint must hold: its name and dimensions (the entries of the
// parameter tables of model, gemma and vae).
type Spec struct {
	Name string
	Dims []int
}

// Size is the number of elements.
func (s Spec) Size() int64 {
	n := int64(1)
	for _, d := range s.Dims {
		n *= int64(d)
	}
	return n
}

// Count returns the number of elements of specs per group (as group names each spec's group
// from its name) and in total.
func Count(specs []Spec, group func(name string) string) (perGroup map[string]int64, total int64) {
	perGroup = make(map[string]int64)
	for _, s := range specs {
		perGroup[group(s.Name)] += s.Size()
		total += s.Size()
	}
	return perGroup, total
}

// Compare compares the tensors of have with specs: missing lists the specs have lacks (or
// holds as nil), in specs' order; misshaped the ones of other dimensions ("name: have [..],
// want [..]"); unexpected, sorted, the names of have that specs does not list.
func Compare(specs []Spec, have map[string]*tensors.Tensor) (missing, unexpected, misshaped []string) {
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Name] = true
		t, ok := have[s.Name]
		if !ok || t == nil {
			missing = append(missing, s.Name)
			continue
		}
		if d := t.Shape().Dimensions; !slices.Equal(d, s.Dims) {
			misshaped = append(misshaped, misfit(s.Name, d, s.Dims))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		if !want[name] {
			unexpected = append(unexpected, name)
		}
	}
	return missing, unexpected, misshaped
}

// Match streams the tensors of a checkpoint (the path forms of Read) against specs, handing
// keep each tensor that specs lists with the dimensions they give it; keep may refuse one by
// returning a line for misshaped. missing lists the specs the checkpoint lacks, in specs'
// order; misshaped the tensors of other dimensions ("name: have [..], want [..]") and the
// refused ones; unexpected the names specs does not list, both in the checkpoint's order. An
// error of reading or of keep stops the stream.
func Match(path string, specs []Spec, keep func(name string, t *tensors.Tensor) (refusal string, err error)) (missing, unexpected, misshaped []string, err error) {
	want := make(map[string][]int, len(specs))
	for _, s := range specs {
		want[s.Name] = s.Dims
	}
	seen := make(map[string]bool, len(specs))
	_, err = ForEach(path, func(name string, t *tensors.Tensor) error {
		dims, ok := want[name]
		seen[name] = true
		switch {
		case !ok:
			unexpected = append(unexpected, name)
		case !slices.Equal(t.Shape().Dimensions, dims):
			misshaped = append(misshaped, misfit(name, t.Shape().Dimensions, dims))
		default:
			refusal, err := keep(name, t)
			if refusal != "" {
				misshaped = append(misshaped, refusal)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, s := range specs {
		if !seen[s.Name] {
			missing = append(missing, s.Name)
		}
	}
	return missing, unexpected, misshaped, nil
}

// misfit is the mis-shaped line of a tensor: "name: have [..], want [..]".
func misfit(name string, have, want []int) string {
	return fmt.Sprintf("%s: have %v, want %v", name, have, want)
}

// KeysError formats a parameter-set mismatch ("<what> do not match <against> (counts)", then
// one line per key, at most maxListed per list when maxListed > 0); it returns nil when all
// lists are empty.
func KeysError(what, against string, maxListed int, missing, unexpected, misshaped []string) error {
	if len(missing)+len(unexpected)+len(misshaped) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s do not match %s (%d missing, %d unexpected, %d mis-shaped)",
		what, against, len(missing), len(unexpected), len(misshaped))
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n  %s:", title)
		for i, it := range items {
			if i == maxListed && maxListed > 0 {
				fmt.Fprintf(&b, "\n    … and %d more", len(items)-maxListed)
				break
			}
			b.WriteString("\n    " + it)
		}
	}
	list("missing", missing)
	list("unexpected", unexpected)
	list("mis-shaped", misshaped)
	return fmt.Errorf("%s", b.String())
}
