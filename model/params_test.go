package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// TestForwardReadsExactlyTheTable builds the forward graph, for each role and each
// combination of the options that change the parameter set (QK norm in either attention) or
// the forward (dense time, patch size), from weights holding exactly the names of ParamSpecs:
// a weight the forward reads that is not in the table panics ("weight … is missing"), and
// every weight in the table must reach the outputs (velocity, and the student's logvar).
func TestForwardReadsExactlyTheTable(t *testing.T) {
	for _, role := range []Role{Teacher, Student} {
		for _, qk := range []bool{false, true} {
			for _, cross := range []bool{false, true} {
				for _, dense := range []bool{false, true} {
					for _, patch := range []int{1, 2} {
						cfg := tinyConfig(t, "float32")
						cfg.QKNorm, cfg.CrossNorm, cfg.DenseTime, cfg.PatchSize = qk, cross, dense, patch
						name := fmt.Sprintf("%s/qk_norm=%v/cross_norm=%v/dense_time=%v/patch=%d", role, qk, cross, dense, patch)
						t.Run(name, func(t *testing.T) { checkForwardReads(t, cfg, role) })
					}
				}
			}
		}
	}
}

func checkForwardReads(t *testing.T, cfg Config, role Role) {
	specs := ParamSpecs(cfg, role)
	g := NewGraph(testBackend(t), "reads")
	defer g.Finalize()
	w := make(Weights, len(specs))
	nameOf := make(map[*Node]string, len(specs))
	for _, s := range specs {
		if _, dup := w[s.Name]; dup {
			t.Errorf("%s is declared twice in the table", s.Name)
		}
		n := Parameter(g, s.Name, shapes.Make(dtypes.Float32, s.Dims...))
		w[s.Name], nameOf[n] = n, s.Name
	}
	input := func(name string, dims ...int) *Node {
		return Parameter(g, name, shapes.Make(dtypes.Float32, dims...))
	}
	B, side := 2, cfg.LatentSize
	in := Inputs{
		X:    input("x", B, cfg.InChannels, side, side),
		T:    input("t", B),
		Text: input("text", B, cfg.CaptionLen, cfg.CaptionDim),
		Mask: input("mask", B, cfg.CaptionLen),
	}
	if role == Student {
		in.Guidance = input("guidance", B)
	}

	var out Outputs
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("forward reads a weight outside the table: %v", r)
			}
		}()
		out = Forward(cfg, w, in, nil)
	}()
	roots := []*Node{out.V}
	if role == Student {
		if out.Logvar == nil {
			t.Fatal("student forward gave no logvar with the table's weights")
		}
		roots = append(roots, out.Logvar)
	} else if out.Logvar != nil {
		t.Error("teacher forward gave a logvar")
	}

	// Walk the graph back from the outputs and collect the table weights reached.
	read := namesReached(nameOf, roots...)
	var unread []string
	for _, s := range specs {
		if !read[s.Name] {
			unread = append(unread, s.Name)
		}
	}
	if len(unread) > 0 {
		t.Errorf("table parameters the forward does not use (%d of %d): %v", len(unread), len(specs), unread)
	}
	if len(read) != len(specs) {
		t.Errorf("forward used %d table parameters, table has %d", len(read), len(specs))
	}
}

// TestParamTableRoles: the student's table is the teacher's with the time embedder under
// its student key, plus the guidance embedder and the logvar head; the QK-norm options add
// exactly the norm weights of their attention.
func TestParamTableRoles(t *testing.T) {
	cfg := tinyConfig(t, "float32")
	names := func(cfg Config, role Role) []string {
		var n []string
		for _, s := range ParamSpecs(cfg, role) {
			n = append(n, s.Name)
		}
		return n
	}
	teacher, student := names(cfg, Teacher), names(cfg, Student)
	var extra []string
	for _, n := range student {
		mapped := n
		if rest, ok := strings.CutPrefix(n, timeEmbedderPrefix(Student)); ok {
			mapped = timeEmbedderPrefix(Teacher) + rest
		}
		if !slices.Contains(teacher, mapped) {
			extra = append(extra, n)
		}
	}
	for _, n := range extra {
		if g := ParamGroup(n); g != "guidance_embed" && g != "logvar" {
			t.Errorf("student-only parameter %s in group %s", n, g)
		}
	}
	if len(student) != len(teacher)+len(extra) || len(extra) != 6 {
		t.Errorf("student %d = teacher %d + %d student-only parameters, want 6 (%v)", len(student), len(teacher), len(extra), extra)
	}
	if RoleOfNames(teacher) != Teacher || RoleOfNames(student) != Student {
		t.Error("RoleOfNames does not tell the tables apart")
	}
	off := cfg
	off.QKNorm, off.CrossNorm = false, false
	if got, want := len(names(cfg, Teacher))-len(names(off, Teacher)), 4*cfg.Depth; got != want {
		t.Errorf("QK norm in both attentions adds %d parameters, want %d", got, want)
	}
}

// namesReached walks the graph back from roots and returns the names (by nameOf) of the
// nodes reached.
func namesReached(nameOf map[*Node]string, roots ...*Node) map[string]bool {
	read := map[string]bool{}
	seen := map[*Node]bool{}
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		if name, ok := nameOf[n]; ok {
			read[name] = true
		}
		stack = append(stack, n.Inputs()...)
	}
	return read
}
