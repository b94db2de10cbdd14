package train

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Group is a set of named tensors of one kind: a network's weights ("student", "teacher",
// "heads"), an optimizer's state ("opt_g", "opt_d"), non-trainable buffers, an EMA.
// All training state is held in Groups on the host side; nothing hides in graph variables.
type Group map[string]*tensors.Tensor

// Names returns the group's tensor names, sorted: the order in which they are fed to graphs.
func (g Group) Names() []string { return slices.Sorted(maps.Keys(g)) }

// GroupSeparator joins a group name and a tensor name in flattened maps ("student/w"):
// in checkpoints and in StepInputs.Frozen. Group names never contain it; tensor names may.
const GroupSeparator = "/"

// Flatten merges groups into one map whose names are "<group>/<name>".
func Flatten(groups map[string]Group, names ...string) (map[string]*tensors.Tensor, error) {
	out := map[string]*tensors.Tensor{}
	for _, gn := range names {
		g, ok := groups[gn]
		if !ok {
			return nil, fmt.Errorf("group %q does not exist", gn)
		}
		for n, t := range g {
			out[gn+GroupSeparator+n] = t
		}
	}
	return out, nil
}

// Unflatten splits "<group>/<name>" keys back into groups.
func Unflatten(flat map[string]*tensors.Tensor) (map[string]Group, error) {
	groups := map[string]Group{}
	for k, t := range flat {
		gn, n, ok := strings.Cut(k, GroupSeparator)
		if !ok || gn == "" || n == "" {
			return nil, fmt.Errorf("tensor name %q is not of the form <group>/<name>", k)
		}
		if groups[gn] == nil {
			groups[gn] = Group{}
		}
		groups[gn][n] = t
	}
	return groups, nil
}

// Sub returns the nodes of one group from a map keyed "<group>/<name>" (StepInputs.Frozen),
// keyed by the plain names.
func Sub(nodes map[string]*graph.Node, group string) map[string]*graph.Node {
	prefix := group + GroupSeparator
	out := map[string]*graph.Node{}
	for k, n := range nodes {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = n
		}
	}
	return out
}

// validGroupName reports whether name can be used as a group name.
func validGroupName(name string) error {
	if name == "" || strings.Contains(name, GroupSeparator) {
		return fmt.Errorf("group name %q must be non-empty and must not contain %q", name, GroupSeparator)
	}
	return nil
}
