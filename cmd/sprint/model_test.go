package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

func TestModelInfoCounts(t *testing.T) {
	out, _, err := execute(t, "model", "info", "--preset", "sana-1.6b")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1,604,641,952", "1,610,237,472"} {
		if !strings.Contains(out, want) {
			t.Errorf("model info does not show %s:\n%s", want, out)
		}
	}
	out, _, err = execute(t, "model", "info", "--preset", "sana-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"591,876,896", "593,501,216"} {
		if !strings.Contains(out, want) {
			t.Errorf("model info does not show %s:\n%s", want, out)
		}
	}
}

// TestModelInitForward: init a tiny teacher, derive the student, run both through
// `model forward` and check the outputs' shapes, that the student (zero guidance layer)
// reproduces the teacher's TrigFlow output and that errors name the bad input.
func TestModelInitForward(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "go") // the pure-Go backend, whatever else is compiled in
	dir := t.TempDir()
	teacher, student := filepath.Join(dir, "teacher"), filepath.Join(dir, "student")
	if _, _, err := execute(t, "model", "init", "--preset", "tiny", "--seed", "1", "--out", teacher); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "model", "init", "--role", "student", "--from-teacher", teacher, "--out", student); err != nil {
		t.Fatal(err)
	}
	cfg, err := model.PresetConfig(model.PresetTiny)
	if err != nil {
		t.Fatal(err)
	}
	B, L := 2, cfg.CaptionLen
	fill := func(n int, f func(i int) float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	x := tensors.FromFlatDataAndDimensions(fill(B*cfg.InChannels*64, func(i int) float32 { return float32(math.Sin(float64(i))) }), B, cfg.InChannels, 8, 8)
	text := tensors.FromFlatDataAndDimensions(fill(B*L*cfg.CaptionDim, func(i int) float32 { return float32(math.Cos(float64(i) * 0.3)) }), B, L, cfg.CaptionDim)
	mask := tensors.FromFlatDataAndDimensions([]int64{1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, B, L)
	theta := []float32{0.4, 1.3}
	tflow := fill(B, func(i int) float32 { // t = sinθ/(sinθ+cosθ)
		s, c := math.Sin(float64(theta[i])), math.Cos(float64(theta[i]))
		return float32(s / (s + c))
	})

	studentIn := filepath.Join(dir, "student_in.safetensors")
	if err := safetensors.WriteFile(studentIn, map[string]*tensors.Tensor{
		"latents": x, "timestep": tensors.FromFlatDataAndDimensions(theta, B),
		"encoder_hidden_states": text, "encoder_attention_mask": mask,
		"guidance": tensors.FromFlatDataAndDimensions([]float32{4.5, 7}, B),
	}, nil); err != nil {
		t.Fatal(err)
	}
	studentOut := filepath.Join(dir, "student_out.safetensors")
	if _, _, err := execute(t, "model", "forward", "--weights", student, "--inputs", studentIn, "--out", studentOut, "--features", "1"); err != nil {
		t.Fatal(err)
	}
	so, md, err := safetensors.ReadFile(studentOut)
	if err != nil {
		t.Fatal(err)
	}
	if md["role"] != "student" || so["F"] == nil || so["logvar"] == nil || so["features.1"] == nil {
		t.Fatalf("student outputs: %v, metadata %v", keys(so), md)
	}
	if got := so["F"].Shape().Dimensions; got[0] != B || got[1] != cfg.InChannels || got[2] != 8 {
		t.Errorf("F shape %v", got)
	}

	// The teacher's velocity at the TrigFlow point, wrapped by hand, is the student's F.
	teacherIn := filepath.Join(dir, "teacher_in.safetensors")
	sc := fill(B, func(i int) float32 {
		return float32(math.Sin(float64(theta[i])) + math.Cos(float64(theta[i])))
	})
	xs := tensors.MustCopyFlatData[float32](x)
	xFlow := make([]float32, len(xs))
	per := len(xs) / B
	for i := range xs {
		xFlow[i] = xs[i] / sc[i/per]
	}
	if err := safetensors.WriteFile(teacherIn, map[string]*tensors.Tensor{
		"latents": tensors.FromFlatDataAndDimensions(xFlow, B, cfg.InChannels, 8, 8), "timestep": tensors.FromFlatDataAndDimensions(tflow, B),
		"text": text, "mask": mask,
	}, nil); err != nil {
		t.Fatal(err)
	}
	teacherOut := filepath.Join(dir, "teacher_out.safetensors")
	if _, _, err := execute(t, "model", "forward", "--weights", teacher, "--inputs", teacherIn, "--out", teacherOut); err != nil {
		t.Fatal(err)
	}
	to, _, err := safetensors.ReadFile(teacherOut)
	if err != nil {
		t.Fatal(err)
	}
	v := tensors.MustCopyFlatData[float32](to["velocity"])
	F := tensors.MustCopyFlatData[float32](so["F"])
	maxDiff := 0.0
	for i := range v {
		tt := float64(tflow[i/per])
		want := ((1-2*tt)*float64(xFlow[i]) + (1-2*tt+2*tt*tt)*float64(v[i])) / math.Sqrt(tt*tt+(1-tt)*(1-tt))
		maxDiff = math.Max(maxDiff, math.Abs(want-float64(F[i])))
	}
	if maxDiff > 1e-4 {
		t.Errorf("student F differs from the wrapped teacher velocity by %g", maxDiff)
	}

	// Errors name the problem.
	bad := filepath.Join(dir, "bad_in.safetensors")
	if err := safetensors.WriteFile(bad, map[string]*tensors.Tensor{"latents": x, "text": text}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "model", "forward", "--weights", teacher, "--inputs", bad, "--out", filepath.Join(dir, "x.safetensors")); err == nil || !strings.Contains(err.Error(), `"timestep"`) {
		t.Errorf("missing timestep: err = %v", err)
	}
	if _, _, err := execute(t, "model", "forward", "--preset", "demo", "--weights", teacher, "--inputs", teacherIn, "--out", filepath.Join(dir, "y.safetensors")); err == nil || !strings.Contains(err.Error(), "mis-shaped") {
		t.Errorf("weights of another shape: err = %v", err)
	}
}

func keys(m map[string]*tensors.Tensor) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
