package main

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sprint-distill/sprint/grid"
	"github.com/sprint-distill/sprint/internal/testfile"
	"github.com/sprint-distill/sprint/safetensors"
)

// tinyVAEDir is the tiny random DC-AE of the vae package's golden test (f = 4, 4 latent channels).
var tinyVAEDir = filepath.Join("..", "..", "vae", "testdata", "sana_tiny")

func writeTestPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(16 * x), uint8(9 * y), uint8(x * y), 255})
		}
	}
	if err := grid.WritePNG(path, img); err != nil {
		t.Fatal(err)
	}
}

func TestVAEVerbs(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runMain(t, "vae", "info", "--preset", "dc-ae-f32c32-sana-1.1")
	if code != 0 || !strings.Contains(out, "312,250,275") || !strings.Contains(out, "DC-AE f32c32") {
		t.Fatalf("info --preset: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runMain(t, "vae", "info", "--weights", tinyVAEDir)
	if code != 0 || !strings.Contains(out, "weights ok") || !strings.Contains(out, "48,295") {
		t.Fatalf("info --weights: %d %q %q", code, out, errOut)
	}
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writeTestPNG(t, a, 16, 16)
	writeTestPNG(t, b, 32, 16)
	lat := filepath.Join(dir, "lat.safetensors")
	code, out, errOut = runMain(t, "vae", "encode", a, b, "--weights", tinyVAEDir, "--out", lat)
	if code != 0 || !strings.Contains(out, "wrote 2 latents") {
		t.Fatalf("encode: %d %q %q", code, out, errOut)
	}
	infos, md, err := safetensors.ReadHeader(lat)
	if err != nil || len(infos) != 2 || infos[1].Name != "b" || infos[1].Shape[2] != 8 || md["scaled"] != "true" {
		t.Fatalf("latents file: %v %+v %v", err, infos, md)
	}
	outDir := filepath.Join(dir, "dec")
	if code, _, errOut = runMain(t, "vae", "decode", lat, "--weights", tinyVAEDir, "--out", outDir); code != 0 {
		t.Fatalf("decode: %d %q", code, errOut)
	}
	for _, n := range []string{"a.png", "b.png"} {
		if _, err := os.Stat(filepath.Join(outDir, n)); err != nil {
			t.Errorf("decode wrote no %s: %v", n, err)
		}
	}
	recon := filepath.Join(dir, "r.png")
	code, out, errOut = runMain(t, "vae", "roundtrip", b, "--weights", tinyVAEDir, "--out", recon)
	if code != 0 || !strings.Contains(out, "PSNR") {
		t.Fatalf("roundtrip: %d %q %q", code, out, errOut)
	}
	// User errors are messages with status 1, never crashes.
	odd := filepath.Join(dir, "odd.png")
	writeTestPNG(t, odd, 15, 16)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"vae", "encode", odd, "--weights", tinyVAEDir, "--out", lat}, "sides must be multiples of 4"},
		{[]string{"vae", "decode", lat, "--weights", filepath.Join(dir, "nope"), "--out", outDir}, "mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers"},
		{[]string{"vae", "decode", lat, "--weights", tinyVAEDir, "--out", recon}, "holds 2 images"},
		{[]string{"vae", "decode", a, "--weights", tinyVAEDir, "--out", outDir}, "a.png"},
		{[]string{"vae", "info"}, "give --weights DIR"},
	} {
		code, _, errOut := runMain(t, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestDataEncodeVerb(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	for i, n := range []string{"x", "y", "z"} {
		testfile.Write(t, ds, n+".txt", "a red circle")
		writeTestPNG(t, filepath.Join(ds, n+".png"), 16+8*i, 16)
	}
	shards := filepath.Join(dir, "shards")
	args := []string{"data", "encode", ds, "--out", shards, "--vae", tinyVAEDir, "--text-encoder", "shapes", "--resolution", "512", "--batch", "2"}
	code, out, errOut := runMain(t, args...)
	if code != 0 || !strings.Contains(out, "3 images in") || !strings.Contains(errOut, "images/s") {
		t.Fatalf("data encode: %d %q %q", code, out, errOut)
	}
	if code, out, errOut = runMain(t, "data", "verify", shards); code != 0 || !strings.Contains(out, "ok: every row passed") {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	if code, out, _ = runMain(t, args...); code != 0 || !strings.Contains(out, "0 rows written now") {
		t.Fatalf("rerun: %d %q", code, out)
	}
	if code, _, errOut = runMain(t, "data", "encode", ds, "--out", shards, "--vae", tinyVAEDir); code != 1 || !strings.Contains(errOut, "--text-encoder") {
		t.Fatalf("no caption encoder: %d %q", code, errOut)
	}
}
