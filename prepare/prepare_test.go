package prepare

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testbackend"

	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/safetensors"
	"github.com/sprint-distill/sprint/vae"
)

// testBackend is the shared test backend (internal/testbackend).
func testBackend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// tinyVAE is a two-stage random DC-AE (f = 2, 4 latent channels) with a ResBlock and an
// EfficientViT stage.
func tinyVAE(t *testing.T) *vae.Model {
	t.Helper()
	c, err := vae.ParseConfig([]byte(`{"latent_channels": 4, "attention_head_dim": 4,
		"encoder_block_types": ["ResBlock", "EfficientViTBlock"], "decoder_block_types": ["ResBlock", "EfficientViTBlock"],
		"encoder_block_out_channels": [4, 8], "decoder_block_out_channels": [4, 8],
		"encoder_layers_per_block": [1, 1], "decoder_layers_per_block": [1, 1],
		"encoder_qkv_multiscales": [[], [3]], "decoder_qkv_multiscales": [[], [3]],
		"downsample_block_type": "Conv", "upsample_block_type": "interpolate", "scaling_factor": 0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := vae.New(testBackend(t), c, vae.RandomParams(c, vae.EncoderPart, 5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Finalize)
	return m
}

// testBuckets is a small table for tests: wide, square and tall.
var testBuckets = []Bucket{{"0.5", 8, 16}, {"1.0", 16, 16}, {"2.0", 16, 8}}

// makeFolder writes n PNG images of varying sizes and colours with .txt captions into dir
// (every fifth in a sub-folder) and returns the captions by key.
func makeFolder(t *testing.T, dir string, n int) map[string]string {
	t.Helper()
	caps := map[string]string{}
	sizes := [][2]int{{20, 10}, {17, 17}, {12, 25}, {40, 22}, {16, 16}}
	colours := []string{"red", "green", "blue", "yellow"}
	for i := range n {
		w, h := sizes[i%len(sizes)][0], sizes[i%len(sizes)][1]
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.SetNRGBA(x, y, color.NRGBA{uint8(37*i + 5*x), uint8(11*y + 3*i), uint8(200 - 7*i), uint8(255 - i)})
			}
		}
		key := fmt.Sprintf("img%02d", i)
		if i%5 == 4 {
			key = "sub/" + key
		}
		p := filepath.Join(dir, filepath.FromSlash(key)+".png")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		caps[key] = fmt.Sprintf("a %s circle above two %s squares", colours[i%4], colours[(i+1)%4])
		if err := os.WriteFile(strings.TrimSuffix(p, ".png")+".txt", []byte(caps[key]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return caps
}

func shapesText(t *testing.T) *data.TextEncoder {
	t.Helper()
	enc, err := data.NewTextEncoder(8, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func baseOptions(t *testing.T, out string, m *vae.Model) Options {
	return Options{Out: out, Buckets: testBuckets, VAE: m, Captions: ShapesCaptions(shapesText(t)), BatchSize: 3, ShardRows: 4}
}

// TestRunEndToEnd: 20 images → shards that data.Verify passes; every row's latent is the scaled
// DC-AE encoding of its resized and cropped image, its text the caption encoder's output.
func TestRunEndToEnd(t *testing.T) {
	src := t.TempDir()
	caps := makeFolder(t, src, 20)
	m := tinyVAE(t)
	out := t.TempDir()
	var log bytes.Buffer
	opts := baseOptions(t, out, m)
	opts.Log = &log
	rep, err := Run(context.Background(), Folder{Dir: src}, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Buckets: 20x10 → 0.5 (4 images), 17x17 and 16x16 → 1.0 (8), 12x25 → 2.0 (4), 40x22 (0.55) → 0.5 (4).
	// Shards of ≤ 4 rows per bucket: 0.5: 8 rows → 2, 1.0: 8 → 2, 2.0: 4 → 1.
	if rep.Items != 20 || rep.Shards != 5 || rep.RowsWritten != 20 || len(rep.Files) != 5 {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(log.String(), "shard 5/5, 20/20 images") || !strings.Contains(log.String(), "images/s, ETA") {
		t.Errorf("no progress lines: %q", log.String())
	}
	r, err := data.Open([]string{out}, data.ReaderOptions{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	vr, err := r.Verify(context.Background(), nil)
	if err != nil || !vr.OK() || vr.Rows != 20 {
		t.Fatalf("verify: %v %+v", err, vr)
	}
	enc := shapesText(t)
	seen := 0
	for _, sh := range r.Shards() {
		for row := range sh.Rows {
			got, err := r.ReadRow(context.Background(), data.RowRef{Shard: sh.Path, Row: row})
			if err != nil {
				t.Fatal(err)
			}
			seen++
			if caps[got.Key] != got.Prompt {
				t.Fatalf("row %q: prompt %q, want %q", got.Key, got.Prompt, caps[got.Key])
			}
			wantEmb, wantMask := enc.EncodeFlat(got.Prompt)
			if !slices.Equal(got.TextEmbedding, wantEmb) || !slices.Equal(got.TextMask, wantMask) {
				t.Fatalf("row %q: text embedding differs from the encoder's", got.Key)
			}
			if got.Key != "img03" {
				continue
			}
			// 40x22 → bucket 0.5 (8x16): resize to cover (bh/h = 0.36 < bw/w = 0.4 → 16 x int(22·16/40) = 8), crop.
			if got.LatentShape != [3]int{4, 4, 8} || got.Width != 40 || got.Height != 22 {
				t.Fatalf("img03: latent %v, size %dx%d", got.LatentShape, got.Width, got.Height)
			}
			im, err := imaging.Load(filepath.Join(src, "img03.png"))
			if err != nil {
				t.Fatal(err)
			}
			im, err = ResizeCrop(im, testBuckets[0])
			if err != nil {
				t.Fatal(err)
			}
			px := make([]float32, 3*8*16)
			toCHW(im, px)
			z, err := m.EncodeScaled(tensors.FromFlatDataAndDimensions(px, 1, 3, 8, 16))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := tensors.CopyFlatData[float32](z)
			for i := range want {
				if d := want[i] - got.Latent[i]; d > 1e-5 || d < -1e-5 {
					t.Fatalf("img03 latent[%d] = %v, want %v (batched vs single encode)", i, got.Latent[i], want[i])
				}
			}
		}
	}
	if seen != 20 {
		t.Fatalf("%d rows read", seen)
	}
}

// TestRunResume: interrupted runs (mid-shard, twice) resumed give byte-identical shards to an
// uninterrupted run; a finished run does nothing more; changed options are refused.
func TestRunResume(t *testing.T) {
	src := t.TempDir()
	makeFolder(t, src, 20)
	m := tinyVAE(t)
	ref := t.TempDir()
	if _, err := Run(context.Background(), Folder{Dir: src}, baseOptions(t, ref, m)); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, stopAfter := range []int{6, 5} { // rows into this call: mid-shard 1, then mid-shard 3
		ctx, cancel := context.WithCancel(context.Background())
		opts := baseOptions(t, out, m)
		opts.AfterBatch = func(done, _ int) {
			if done >= stopAfter {
				cancel()
			}
		}
		_, err := Run(ctx, Folder{Dir: src}, opts)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run: %v", err)
		}
		tmp, _ := filepath.Glob(filepath.Join(out, "*.tmp*"))
		if len(tmp) != 0 {
			t.Errorf("temporary files left: %v", tmp)
		}
	}
	p, err := readProgress(progressPath(out, "shard"))
	if err != nil || p == nil || p.Done != 2 || p.RowsDone != 8 {
		t.Fatalf("progress after two interruptions: %+v %v", p, err)
	}
	rep, err := Run(context.Background(), Folder{Dir: src}, baseOptions(t, out, m))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resumed != 2 || rep.RowsWritten != 12 {
		t.Errorf("resume report %+v", rep)
	}
	sameFiles(t, ref, out)
	rep, err = Run(context.Background(), Folder{Dir: src}, baseOptions(t, out, m))
	if err != nil || rep.RowsWritten != 0 || len(rep.Files) != 5 {
		t.Fatalf("rerun of a finished run: %+v %v", rep, err)
	}
	sameFiles(t, ref, out)
	opts := baseOptions(t, out, m)
	opts.ShardRows = 5
	if _, err := Run(context.Background(), Folder{Dir: src}, opts); err == nil || !strings.Contains(err.Error(), "other images or options") {
		t.Errorf("changed options: %v", err)
	}
	_ = os.Remove(progressPath(out, "shard"))
	if _, err := Run(context.Background(), Folder{Dir: src}, baseOptions(t, out, m)); err == nil || !strings.Contains(err.Error(), "refusing to mix runs") {
		t.Errorf("shards without progress file: %v", err)
	}
}

// sameFiles checks that two directories hold the same shard files with the same bytes.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	fa, _ := filepath.Glob(filepath.Join(a, "*.parquet"))
	fb, _ := filepath.Glob(filepath.Join(b, "*.parquet"))
	if len(fa) == 0 || len(fa) != len(fb) {
		t.Fatalf("%d shards vs %d", len(fa), len(fb))
	}
	for i := range fa {
		if filepath.Base(fa[i]) != filepath.Base(fb[i]) {
			t.Fatalf("shard names %s vs %s", fa[i], fb[i])
		}
		x, _ := os.ReadFile(fa[i])
		y, _ := os.ReadFile(fb[i])
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between the runs", filepath.Base(fa[i]))
		}
	}
}

// TestPrecomputedCaptions: embeddings looked up by key, with and without masks.
func TestPrecomputedCaptions(t *testing.T) {
	src := t.TempDir()
	caps := makeFolder(t, src, 5)
	emb := map[string]*tensors.Tensor{}
	i := 0
	for k := range caps {
		v := make([]float32, 3*2)
		for j := range v {
			v[j] = float32(10*i + j)
		}
		emb["embedding/"+k] = tensors.FromFlatDataAndDimensions(v, 3, 2)
		if i%2 == 0 {
			emb["mask/"+k] = tensors.FromFlatDataAndDimensions([]float32{1, 1, 0}, 3)
		}
		i++
	}
	path := filepath.Join(t.TempDir(), "emb.safetensors")
	if err := safetensors.WriteFile(path, emb, nil); err != nil {
		t.Fatal(err)
	}
	pc, err := OpenPrecomputed(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	out := t.TempDir()
	opts := baseOptions(t, out, tinyVAE(t))
	opts.Captions = pc
	if _, err := Run(context.Background(), Folder{Dir: src}, opts); err != nil {
		t.Fatal(err)
	}
	r, err := data.Open([]string{out}, data.ReaderOptions{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, sh := range r.Shards() {
		for row := range sh.Rows {
			got, err := r.ReadRow(context.Background(), data.RowRef{Shard: sh.Path, Row: row})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := tensors.CopyFlatData[float32](emb["embedding/"+got.Key])
			wantMask := []float32{1, 1, 1}
			if _, ok := emb["mask/"+got.Key]; ok {
				wantMask = []float32{1, 1, 0}
			}
			if !slices.Equal(got.TextEmbedding, want) || !slices.Equal(got.TextMask, wantMask) || got.TextShape != [2]int{3, 2} {
				t.Errorf("%s: %v %v", got.Key, got.TextEmbedding, got.TextMask)
			}
		}
	}
	// A key without an embedding is an error naming it.
	delete(emb, "embedding/img02")
	_ = safetensors.WriteFile(path, emb, nil)
	pc2, _ := OpenPrecomputed(path)
	defer pc2.Close()
	opts.Out, opts.Captions = t.TempDir(), pc2
	if _, err := Run(context.Background(), Folder{Dir: src}, opts); err == nil || !strings.Contains(err.Error(), `"img02"`) {
		t.Errorf("missing embedding: %v", err)
	}
}

// TestFloats32 reads every dtype floats32 supports as float32 and refuses others.
func TestFloats32(t *testing.T) {
	want := []float32{0, 1, 2, 1}
	for _, x := range []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions([]float32{0, 1, 2, 1}, 2, 2),
		tensors.FromFlatDataAndDimensions([]float64{0, 1, 2, 1}, 2, 2),
		tensors.FromFlatDataAndDimensions([]bfloat16.BFloat16{bfloat16.FromFloat32(0), bfloat16.FromFloat32(1), bfloat16.FromFloat32(2), bfloat16.FromFloat32(1)}, 2, 2),
		tensors.FromFlatDataAndDimensions([]float16.Float16{float16.FromFloat32(0), float16.FromFloat32(1), float16.FromFloat32(2), float16.FromFloat32(1)}, 2, 2),
		tensors.FromFlatDataAndDimensions([]int64{0, 1, 2, 1}, 2, 2),
		tensors.FromFlatDataAndDimensions([]int32{0, 1, 2, 1}, 2, 2),
		tensors.FromFlatDataAndDimensions([]int16{0, 1, 2, 1}, 2, 2),
		tensors.FromFlatDataAndDimensions([]int8{0, 1, 2, 1}, 2, 2),
		tensors.FromFlatDataAndDimensions([]uint8{0, 1, 2, 1}, 2, 2),
	} {
		if got, err := floats32(x); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v, %v; want %v", x.DType(), got, err, want)
		}
	}
	if got, err := floats32(tensors.FromFlatDataAndDimensions([]bool{false, true, true}, 3)); err != nil || !slices.Equal(got, []float32{0, 1, 1}) {
		t.Errorf("bool: %v, %v", got, err)
	}
	if _, err := floats32(tensors.FromFlatDataAndDimensions([]uint32{1}, 1)); err == nil || !strings.Contains(err.Error(), "is not supported") {
		t.Errorf("uint32: %v", err)
	}
}
