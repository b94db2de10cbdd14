package mjhq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// meanColor is a cheap FID stand-in: per-channel means and two spatial contrasts.
type meanColor struct{ calls atomic.Int64 }

func (m *meanColor) Dim() int { return 5 }
func (m *meanColor) Features(imgs []*imaging.RGB8) ([][]float32, error) {
	m.calls.Add(int64(len(imgs)))
	out := make([][]float32, len(imgs))
	for i, img := range imgs {
		f := make([]float32, 5)
		n := float32(img.Width * img.Height)
		for y := 0; y < img.Height; y++ {
			for x := 0; x < img.Width; x++ {
				for c := 0; c < 3; c++ {
					v := float32(img.At(x, y, c)) / 255
					f[c] += v / n
					if y < img.Height/2 {
						f[3] += v / n
					}
					if x < img.Width/2 {
						f[4] += v / n
					}
				}
			}
		}
		out[i] = f
	}
	return out, nil
}

// redness scores an image-prompt pair by how red the image is, signed by whether the prompt says red.
type redness struct{ calls atomic.Int64 }

func (r *redness) LogitScale() float64 { return 100 }
func (r *redness) Cosines(imgs []*imaging.RGB8, prompts []string) ([]float64, error) {
	r.calls.Add(int64(len(imgs)))
	out := make([]float64, len(imgs))
	for i, img := range imgs {
		v := float64(img.At(0, 0, 0)) / 255 * 0.5
		if !strings.Contains(prompts[i], "red") {
			v = -v
		}
		out[i] = v
	}
	return out, nil
}

func solid(w, h int, r, g, b uint8, seed int) *imaging.RGB8 {
	img := imaging.NewRGB8(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Pix[(y*w+x)*3] = r
			img.Pix[(y*w+x)*3+1] = uint8(int(g) + (x*seed)%40)
			img.Pix[(y*w+x)*3+2] = uint8(int(b) + (y*seed*3)%50)
		}
	}
	return img
}

func save(t *testing.T, path string, img *imaging.RGB8) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".png") {
		err = png.Encode(f, img.Image())
	} else {
		err = jpeg.Encode(f, img.Image(), &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// fixture writes a small MJHQ-like tree: two categories, 8 images each.
func fixture(t *testing.T) (root, gen string, entries []Entry) {
	root = t.TempDir()
	gen = filepath.Join(root, "generated")
	meta := map[string]any{}
	var order []string
	for i := 0; i < 16; i++ {
		cat := []string{"food", "animals"}[i%2]
		key := fmt.Sprintf("%02x%02x", i*7, i)
		prompt := "a red apple"
		if cat == "animals" {
			prompt = "a green frog"
		}
		meta[key] = map[string]string{"category": cat, "prompt": prompt}
		order = append(order, key)
		save(t, filepath.Join(root, "imgs", cat, key+".jpg"), solid(24, 16, uint8(40+i*10), 90, 30, i+1))
		gp := filepath.Join(gen, key+".jpg")
		if i == 3 {
			gp = filepath.Join(gen, key+".png")
		}
		save(t, gp, solid(20, 20, uint8(60+i*9), 80, 60, i+2))
	}
	// meta_data.json in a fixed key order (not alphabetical) to check that order is kept.
	var sb strings.Builder
	sb.WriteString("{")
	for i, k := range order {
		b, _ := json.Marshal(meta[k])
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "%q: %s", k, b)
	}
	sb.WriteString("}")
	os.WriteFile(filepath.Join(root, "meta_data.json"), []byte(sb.String()), 0o644)
	entries, err := ReadMetadata(filepath.Join(root, "meta_data.json"))
	if err != nil {
		t.Fatal(err)
	}
	return root, gen, entries
}

func TestMetadataOrderAndSelect(t *testing.T) {
	root, _, entries := fixture(t)
	if len(entries) != 16 || entries[0].Key != "0000" || entries[1].Key != "0701" || entries[1].Category != "animals" {
		t.Fatalf("%+v", entries[:2])
	}
	if got := Select(entries, 5, nil); len(got) != 5 || got[4].Key != entries[4].Key {
		t.Fatalf("first 5: %v", got)
	}
	if got := Select(entries, 0, []string{"food"}); len(got) != 8 || got[1].Category != "food" {
		t.Fatalf("food: %v", got)
	}
	if d := ReferenceDir(root, ""); d != filepath.Join(root, "imgs") {
		t.Fatalf("reference dir %s", d)
	}
	bad := filepath.Join(root, "bad.json")
	os.WriteFile(bad, []byte(`{"../x": {"category": "food", "prompt": "p"}}`), 0o644)
	if _, err := ReadMetadata(bad); err == nil {
		t.Fatal("path-like key accepted")
	}
	if _, err := ReadMetadata(filepath.Join(root, "none.json")); err == nil || !strings.Contains(err.Error(), "playgroundai/MJHQ-30K") {
		t.Fatalf("missing metadata error: %v", err)
	}
}

func TestJobResumes(t *testing.T) {
	root, gen, entries := fixture(t)
	cache, out := t.TempDir(), t.TempDir()
	fm, cm := &meanColor{}, &redness{}
	job := &Job{Entries: entries, ReferenceDir: ReferenceDir(root, ""), GeneratedDir: gen, CacheDir: cache, OutputDir: out,
		FID: fm, FIDName: "meancolor", CLIP: cm, CLIPName: "redness", BatchSize: 3}

	// An interrupted first run: cancel after the second batch of reference features.
	ctx, cancel := context.WithCancel(context.Background())
	failing := &cancelAfter{FeatureModel: fm, n: 6, cancel: cancel}
	job.FID = failing
	if _, err := job.Run(ctx); err == nil {
		t.Fatal("cancelled run succeeded")
	}
	done := fm.calls.Load()
	if done == 0 || done >= 16 {
		t.Fatalf("interrupted run embedded %d images", done)
	}
	job.FID = fm
	rep, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Resumed: the cached reference features were not recomputed.
	if got := fm.calls.Load(); got != 32 {
		t.Fatalf("%d images embedded in total, want 16 reference + 16 generated", got)
	}
	if rep.FID <= 0 || math.IsNaN(rep.FID) || len(rep.Categories) != 2 || rep.Categories[0].Category != "animals" {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range rep.Categories {
		if c.Images != 8 || c.FID == nil || *c.FID <= 0 {
			t.Fatalf("category %+v", c)
		}
	}
	// CLIP: food prompts say red (positive), animals don't (negative).
	if *rep.Categories[1].CLIPScore <= 0 || *rep.Categories[0].CLIPScore >= 0 || *rep.Categories[0].CLIPScoreTorchMet != 0 {
		t.Fatalf("clip per category: %+v %+v", rep.Categories[0], rep.Categories[1])
	}
	var wantSum float64
	for _, e := range entries {
		gp, _ := GeneratedPath(gen, e)
		img, err := imaging.Load(gp)
		if err != nil {
			t.Fatal(err)
		}
		v := float64(img.At(0, 0, 0)) / 255 * 0.5
		if e.Category != "food" {
			v = -v
		}
		wantSum += v
	}
	if math.Abs(*rep.CLIPScore-100*wantSum/16) > 1e-3 {
		t.Fatalf("overall CLIP %v want %v", *rep.CLIPScore, 100*wantSum/16)
	}

	// A second run reuses everything: reference statistics from .npz, features and cosines from the caches.
	rep2, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fm.calls.Load() != 32 || cm.calls.Load() != 16 {
		t.Fatalf("second run recomputed: fid %d clip %d", fm.calls.Load(), cm.calls.Load())
	}
	if math.Abs(rep2.FID-rep.FID) > 1e-6 {
		t.Fatalf("FID changed between runs: %v %v", rep.FID, rep2.FID)
	}
	// Changing a generated image invalidates only that image.
	save(t, filepath.Join(gen, entries[0].Key+".jpg"), solid(20, 20, 250, 10, 10, 9))
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fm.calls.Load() != 33 {
		t.Fatalf("after changing one image %d embeddings, want 33", fm.calls.Load())
	}
	for _, name := range []string{"mjhq_report.json", "mjhq_report.md"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !strings.Contains(string(b), "animals") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A missing generated image is an error naming it.
	os.Remove(filepath.Join(gen, entries[5].Key+".jpg"))
	if _, err := job.Run(context.Background()); err == nil || !strings.Contains(err.Error(), entries[5].Key) {
		t.Fatalf("missing image: %v", err)
	}
}

type cancelAfter struct {
	FeatureModel
	n      int
	seen   int
	cancel func()
}

func (c *cancelAfter) Features(imgs []*imaging.RGB8) ([][]float32, error) {
	c.seen += len(imgs)
	if c.seen > c.n {
		c.cancel()
		return nil, errors.New("interrupted")
	}
	return c.FeatureModel.Features(imgs)
}
