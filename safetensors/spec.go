package safetensors

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
)

// spec is the shape of the parameter-table entries Compare takes (model.ParamSpec,
// gemma.ParamSpec): a tensor's name and dimensions.
type spec struct {
	Name string
	Dims []int
}

// Compare compares the tensors of have with specs: missing lists the specs have lacks (or
// holds as nil), in specs' order; misshaped the ones of other dimensions ("name: have [..],
// want [..]"); unexpected, sorted, the names of have that specs does not list.
func Compare[S ~struct {
	Name string
	Dims []int
}](specs []S, have map[string]*tensors.Tensor) (missing, unexpected, misshaped []string) {
	want := make(map[string]bool, len(specs))
	for _, entry := range specs {
		s := spec(entry)
		want[s.Name] = true
		t, ok := have[s.Name]
		if !ok || t == nil {
			missing = append(missing, s.Name)
			continue
		}
		if d := t.Shape().Dimensions; !slices.Equal(d, s.Dims) {
			misshaped = append(misshaped, fmt.Sprintf("%s: have %v, want %v", s.Name, d, s.Dims))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		if !want[name] {
			unexpected = append(unexpected, name)
		}
	}
	return missing, unexpected, misshaped
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
