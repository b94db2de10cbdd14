package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sprint-distill/sprint/eval/fid"
	"github.com/sprint-distill/sprint/internal/testfile"
)

// TestMJHQGenerateResumes: `eval mjhq --generate` makes every prompt's image with a tiny
// student, scores them, and an interrupted (here: partly deleted) generation resumed makes only
// the missing images and scores the same.
func TestMJHQGenerateResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the FID Inception")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "mjhq")
	meta := map[string]map[string]string{}
	for i := range 6 {
		key := fmt.Sprintf("k%02d", i)
		cat := []string{"food", "animals"}[i%2]
		meta[key] = map[string]string{"category": cat, "prompt": []string{"a red circle", "two blue squares", "a green triangle"}[i%3]}
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for p := range img.Pix {
			img.Pix[p] = uint8(30*i + p%97)
		}
		img.Set(0, 0, color.RGBA{255, 0, 0, 255})
		p := filepath.Join(root, "imgs", cat, key+".jpg")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, _ := os.Create(p)
		if err := jpeg.Encode(f, img, nil); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	b, _ := json.Marshal(meta)
	testfile.Write(t, root, "meta_data.json", string(b))
	inception := filepath.Join(dir, "inception.safetensors")
	if err := fid.RandomWeights(1).Save(inception); err != nil {
		t.Fatal(err)
	}
	student := filepath.Join(dir, "student")
	if code, _, stderr := runMain(t, "model", "init", "--preset", "tiny", "--role", "student", "--out", student); code != 0 {
		t.Fatalf("model init: %s", stderr)
	}
	gen := filepath.Join(dir, "generated")
	args := []string{"eval", "mjhq", "--generate", "--student", student, "--text-encoder", "shapes", "--decoder", "shapes", "--steps", "2",
		"--inception", inception, "--image-size", "0", "--set", "eval.mjhq_root=" + root, "--set", "eval.generated_dir=" + gen,
		"--set", "eval.cache_dir=" + filepath.Join(dir, "cache"), "--set", "eval.output_dir=" + filepath.Join(dir, "out"), "-q"}
	code, out1, stderr := runMain(t, args...)
	if code != 0 || !strings.Contains(stderr, "generated 6 images (0 already there)") {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	first, _ := os.ReadFile(filepath.Join(gen, "k03.png"))
	for _, k := range []string{"k01", "k03"} {
		if err := os.Remove(filepath.Join(gen, k+".png")); err != nil {
			t.Fatal(err)
		}
	}
	code, out2, stderr := runMain(t, args...)
	if code != 0 || !strings.Contains(stderr, "generated 2 images (4 already there)") {
		t.Fatalf("resumed run: exit %d\n%s", code, stderr)
	}
	again, _ := os.ReadFile(filepath.Join(gen, "k03.png"))
	if len(first) == 0 || string(first) != string(again) {
		t.Fatal("a regenerated image differs from the first run's")
	}
	fid1, fid2 := fidLine(out1), fidLine(out2)
	if fid1 == "" || fid1 != fid2 {
		t.Fatalf("scores differ: %q vs %q\n%s", fid1, fid2, out2)
	}
}

// fidLine finds the overall FID row of the MJHQ report.
func fidLine(report string) string {
	for _, l := range strings.Split(report, "\n") {
		if strings.Contains(strings.ToLower(l), "fid") && strings.ContainsAny(l, "0123456789") {
			return l
		}
	}
	return ""
}

// tinyStudent writes a model config (body) to dir/tiny.yaml and initialises a student of that
// model in dir/student; it returns both paths.
func tinyStudent(t *testing.T, dir, body string) (cfg, student string) {
	t.Helper()
	cfg = testfile.Write(t, dir, "tiny.yaml", body)
	student = filepath.Join(dir, "student")
	if code, _, stderr := runMain(t, "model", "init", "--config", cfg, "--role", "student", "--out", student); code != 0 {
		t.Fatalf("model init: %s", stderr)
	}
	return cfg, student
}

// TestSamplePromptEndToEnd: prompts through the (tiny) Gemma-2 encoder with SANA's caption rules,
// a tiny student at 2 steps, a decoder, PNG files and a grid, with the per-stage timing line.
func TestSamplePromptEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg, student := tinyStudent(t, dir, "model:\n  preset: tiny\n  caption_dim: 8\n  caption_len: 6\ntext:\n  model_max_length: 6\n  chi_prompt: []\n  caption_channels: 8\n")
	images, gridPNG := filepath.Join(dir, "images"), filepath.Join(dir, "grid.png")
	code, stdout, stderr := runMain(t, "sample", "--config", cfg, "--weights", student, "--text-encoder", tinyGemma,
		"--prompt", "a red circle", "--prompt", "lll", "--steps", "2", "--decoder", "preview", "--images", images, "--out", gridPNG)
	if code != 0 {
		t.Fatalf("sample: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"wrote 2 samples (2 step(s))", "time: text", "sampling", "decoding"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, p := range []string{filepath.Join(images, "000.png"), filepath.Join(images, "001.png"), gridPNG} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	// The shapes encoder cannot serve a model with another caption width.
	code, _, stderr = runMain(t, "sample", "--config", cfg, "--weights", student, "--prompt", "a red circle", "--decoder", "preview", "--out", gridPNG)
	if code != 1 || !strings.Contains(stderr, "give --text-encoder") {
		t.Fatalf("width mismatch: exit %d\n%s", code, stderr)
	}
}

// TestSampleThroughDCAE: a student's latents decoded to pictures by a (tiny) DC-AE with --vae.
func TestSampleThroughDCAE(t *testing.T) {
	dir := t.TempDir()
	cfg, student := tinyStudent(t, dir, "model:\n  preset: tiny\n  in_channels: 4\n  latent_size: 4\n")
	images := filepath.Join(dir, "images")
	code, stdout, stderr := runMain(t, "sample", "--config", cfg, "--weights", student, "--prompt", "a red circle",
		"--vae", tinyVAEDir, "--images", images)
	if code != 0 || !strings.Contains(stdout, "decoding") {
		t.Fatalf("sample --vae: exit %d\n%s\n%s", code, stdout, stderr)
	}
	f, err := os.Open(filepath.Join(images, "000.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil || img.Bounds().Dx() != 16 || img.Bounds().Dy() != 16 { // 4x4 latent, f = 4
		t.Fatalf("decoded image: %v %v", err, img.Bounds())
	}
	code, _, stderr = runMain(t, "sample", "--config", cfg, "--weights", student, "--prompt", "x", "--decoder", "dcae", "--images", images)
	if code != 1 || !strings.Contains(stderr, "needs --vae") {
		t.Fatalf("dcae without --vae: %d %s", code, stderr)
	}
}
