package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// TestSampleWithControl runs `sprint sample --controlnet DIR --control MAP.png` on a tiny
// student and ControlNet at 1, 2 and 4 steps (and the teacher path with --teacher): the grid is
// written with its timing line; a control latent of the wrong shape is refused naming the shape.
func TestSampleWithControl(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"--set", "model.preset=tiny", "--set", "model.depth=3", "--set", "data.shapes.image_size=16",
		"--set", "data.shapes.max_objects=1", "--set", "data.shapes.max_tokens=8"}
	mcfg, err := model.PresetConfig(model.PresetTiny)
	if err != nil {
		t.Fatal(err)
	}
	mcfg.Depth = 3
	teacher, err := model.InitParams(mcfg, model.Teacher, 1)
	if err != nil {
		t.Fatal(err)
	}
	student, err := model.StudentFromTeacher(mcfg, teacher, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := model.InitControlParams(mcfg, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	sdir, tdir, cdir := filepath.Join(dir, "student"), filepath.Join(dir, "teacher"), filepath.Join(dir, "controlnet")
	if err := checkpoints.ExportDiffusers(sdir, mcfg, student, checkpoints.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := checkpoints.ExportDiffusers(tdir, mcfg, teacher, checkpoints.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := checkpoints.ExportControlNet(cdir, mcfg, 2, ctrl, checkpoints.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	img, err := data.ControlImage(data.Scene{Size: 16, Objects: []data.Object{{Shape: data.ShapeCircle, Color: "red", Box: [4]int{3, 3, 10, 10}}}})
	if err != nil {
		t.Fatal(err)
	}
	mapPath := filepath.Join(dir, "map.png")
	f, err := os.Create(mapPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, steps := range []string{"1", "2", "4"} {
		out := filepath.Join(dir, "s"+steps+".png")
		args := append([]string{"sample", "--weights", sdir, "--controlnet", cdir, "--control", mapPath,
			"--prompts", "a red circle;a blue square", "--steps", steps, "--out", out}, sets...)
		text, stderr, err := execute(t, args...)
		if err != nil {
			t.Fatalf("%s steps: %v\n%s", steps, err, stderr)
		}
		if !strings.Contains(text, "wrote 2 samples ("+steps+" step(s))") || !strings.Contains(text, "ms/image") {
			t.Errorf("sample output: %q", text)
		}
		if _, err := os.Stat(out); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, err := execute(t, append([]string{"sample", "--teacher", "--weights", tdir, "--controlnet", cdir, "--control", mapPath,
		"--prompts", "a red circle", "--steps", "3", "--guidance", "2", "--out", filepath.Join(dir, "t.png")}, sets...)...)
	if err != nil {
		t.Fatalf("teacher: %v\n%s", err, stderr)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := safetensors.WriteFile(bad, map[string]*tensors.Tensor{"control": tensors.FromFlatDataAndDimensions(make([]float32, 12*4*4), 12, 4, 4)}, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = execute(t, append([]string{"sample", "--weights", sdir, "--controlnet", cdir, "--control", bad,
		"--prompts", "a red circle", "--out", filepath.Join(dir, "x.png")}, sets...)...)
	if err == nil || !strings.Contains(err.Error(), "control latent [12 4 4], want the model's latent shape [12 8 8]") {
		t.Errorf("wrong control shape: err = %v", err)
	}
}
