package clip

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sprint-distill/sprint/internal/testbackend"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/gmx"
)

// fixtureMerges is a tiny merge list; merge k gets id 512+k in OpenAI's vocabulary layout.
var fixtureMerges = [][2]string{
	{"p", "h"}, {"ph", "o"}, {"t", "o</w>"}, {"pho", "to</w>"}, {"o", "f</w>"}, {"c", "a"},
	{"ca", "t</w>"}, {"'", "s</w>"}, {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o</w>"},
}

func writeGz(t *testing.T, path string, merges [][2]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	fmt.Fprintln(gz, `"bpe_simple_vocab_16e6.txt#version: 0.2`)
	for _, m := range merges {
		fmt.Fprintf(gz, "%s %s\n", m[0], m[1])
	}
	gz.Close()
	f.Close()
}

func fixtureTokenizer(t *testing.T) *Tokenizer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bpe_simple_vocab_16e6.txt.gz")
	writeGz(t, path, fixtureMerges)
	tok, err := LoadTokenizer(path)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ids(t *testing.T, tok *Tokenizer, text string) []int {
	t.Helper()
	seq, err := tok.Tokenize(text, ContextLength, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, v := range seq {
		if v == 0 {
			break
		}
		out = append(out, int(v))
	}
	return out
}

func TestTokenizerFixture(t *testing.T) {
	tok := fixtureTokenizer(t)
	sot, eot := 512+len(fixtureMerges), 513+len(fixtureMerges)
	cases := []struct {
		text string
		want []int
	}{
		{"a photo of a cat", []int{sot, 320, 515, 516, 320, 518, eot}},
		// Lower case, collapsed whitespace; "!</w>" is the first byte symbol with </w> (256).
		{"A  Photo of a CAT!", []int{sot, 320, 515, 516, 320, 518, 256, eot}},
		// "'s" splits off; digits are one token each ('1</w>' = 272).
		{"hello world's 123", []int{sot, 523, 86, 78, 81, 75, 323, 519, 272, 273, 274, eot}},
		// HTML entities are unescaped (twice), curly quotes uncurled.
		{"cat &amp;amp; hello’s", []int{sot, 518, 261, 523, 519, eot}},
		{"", []int{sot, eot}},
	}
	for _, c := range cases {
		if got := ids(t, tok, c.text); !slices.Equal(got, c.want) {
			t.Errorf("%q -> %v, want %v", c.text, got, c.want)
		}
	}
}

func TestTokenizerRealLayoutIDs(t *testing.T) {
	// With the real number of merges (48894) the special tokens get 49406 and 49407, and the byte
	// symbols the ids of the reference goldens ("a"=320, "!"=256, digits 272..).
	merges := append([][2]string(nil), fixtureMerges...)
	for k := len(merges); k < numMerges; k++ {
		merges = append(merges, [2]string{"\u0100", fmt.Sprintf("%d", k)})
	}
	path := filepath.Join(t.TempDir(), "bpe.txt.gz")
	writeGz(t, path, append(merges, [2]string{"x", "y"})) // lines past 48894 are ignored
	tok, err := LoadTokenizer(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.StartOfTextID() != 49406 || tok.EndOfTextID() != 49407 {
		t.Fatalf("special ids %d %d", tok.StartOfTextID(), tok.EndOfTextID())
	}
	got := ids(t, tok, "a photo of a cat")
	if got[0] != 49406 || got[1] != 320 || got[4] != 320 || got[len(got)-1] != 49407 {
		t.Fatalf("%v", got)
	}
	got = ids(t, tok, "two clocks!")
	if got[len(got)-2] != 256 {
		t.Fatalf("'!' -> %d, want 256", got[len(got)-2])
	}
}

func TestTokenizerTruncation(t *testing.T) {
	tok := fixtureTokenizer(t)
	long := strings.Repeat("cat ", 100)
	seq, err := tok.Tokenize(long, ContextLength, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(seq) != 77 || int(seq[0]) != tok.StartOfTextID() || int(seq[76]) != tok.EndOfTextID() || seq[75] != 518 {
		t.Fatalf("truncated sequence ends %v", seq[70:])
	}
	if _, err := tok.Tokenize(long, ContextLength, false); err == nil {
		t.Fatal("over-long text accepted without truncation")
	}
	// Exactly 75 tokens + SOT + EOT fits without truncation.
	seq, _ = tok.Tokenize(strings.Repeat("cat ", 75), ContextLength, true)
	if seq[75] != 518 || int(seq[76]) != tok.EndOfTextID() {
		t.Fatalf("75 tokens: %v", seq[70:])
	}
}

func TestTokenizerFileLayoutsAgree(t *testing.T) {
	dir := t.TempDir()
	vocab := OpenAIVocabulary(fixtureMerges)
	vj, _ := json.Marshal(vocab)
	os.WriteFile(filepath.Join(dir, "vocab.json"), vj, 0o644)
	var mb strings.Builder
	mb.WriteString("#version: 0.2\n")
	for _, m := range fixtureMerges {
		mb.WriteString(m[0] + " " + m[1] + "\n")
	}
	os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(mb.String()), 0o644)
	hf, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	jdir := t.TempDir()
	var mergeStrings []string
	for _, m := range fixtureMerges {
		mergeStrings = append(mergeStrings, m[0]+" "+m[1])
	}
	doc := map[string]any{"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": mergeStrings}}
	jb, _ := json.Marshal(doc)
	os.WriteFile(filepath.Join(jdir, "tokenizer.json"), jb, 0o644)
	tj, err := LoadTokenizer(jdir)
	if err != nil {
		t.Fatal(err)
	}
	gz := fixtureTokenizer(t)
	for _, text := range []string{"a photo of a cat", "hello world's 123", "Ünïcödé café 🚀 test"} {
		a, b, c := ids(t, gz, text), ids(t, hf, text), ids(t, tj, text)
		if !slices.Equal(a, b) || !slices.Equal(a, c) {
			t.Errorf("%q: gz %v, vocab.json %v, tokenizer.json %v", text, a, b, c)
		}
	}
	if _, err := LoadTokenizer(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "openai/clip-vit-large-patch14") {
		t.Fatalf("missing tokenizer error should say where to get it: %v", err)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"  Hello\t\nWORLD  ":           "hello world",
		"“quoted” ‘single’":            "\"quoted\" 'single'",
		"ﬁne ＡＢＣ":                      "fine abc",
		"a &amp;lt;b&amp;gt; c\u3000d": "a <b> c d",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

var tinyConfig = Config{ImageSize: 32, PatchSize: 8, VisionWidth: 64, VisionLayers: 2, VisionHeads: 1,
	TextWidth: 64, TextLayers: 2, TextHeads: 1, EmbedDim: 32, VocabSize: 600, ContextLength: 77}

var (
	tinyOnce  sync.Once
	tinyModel *Model
	tinyW     *Weights
	tinyErr   error
)

func tiny(t *testing.T) *Model {
	t.Helper()
	backend := testbackend.Get(t)
	tinyOnce.Do(func() {
		tinyW, tinyErr = RandomWeights(tinyConfig, 1)
		if tinyErr == nil {
			tinyModel, tinyErr = NewModel(backend, tinyW)
		}
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyModel
}

func TestTextFeaturesIgnoreTokensAfterEOT(t *testing.T) {
	m := tiny(t)
	eot := int32(525)
	a := make([]int32, 77)
	copy(a, []int32{524, 320, 515, 516, eot})
	b := append([]int32(nil), a...)
	copy(b[5:], []int32{400, 17, 99, 3, 250})
	c := append([]int32(nil), a...)
	c[2] = 516 // a change before EOT must matter
	feats, err := m.EncodeTokens([][]int32{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	for i := range feats[0] {
		if math.Abs(float64(feats[0][i]-feats[1][i])) > 1e-5 {
			t.Fatalf("feature %d changed with tokens after EOT: %v vs %v", i, feats[0][i], feats[1][i])
		}
	}
	if Cosine(feats[0], feats[2]) > 0.99999 {
		t.Fatal("changing a token before EOT did not change the features")
	}
	if _, err := m.EncodeTokens([][]int32{make([]int32, 10)}); err == nil {
		t.Fatal("wrong length accepted")
	}
	bad := append([]int32(nil), a...)
	bad[3] = 9999
	if _, err := m.EncodeTokens([][]int32{bad}); err == nil {
		t.Fatal("out-of-vocabulary id accepted")
	}
}

func TestPatchEmbedIsConvolution(t *testing.T) {
	const ps, g, w = 4, 3, 5
	s := ps * g
	img := make([]float32, s*s*3)
	for i := range img {
		img[i] = float32(math.Sin(float64(i) * 0.37))
	}
	kernel := make([]float32, w*3*ps*ps) // OIHW
	for i := range kernel {
		kernel[i] = float32(math.Cos(float64(i) * 0.11))
	}
	// Rearranged as NewModel does.
	x, _ := gmx.Tensor(img, 1, s, s, 3)
	kt, _ := gmx.Tensor(patchKernel(kernel, ps, w), ps*ps*3, w)
	out, err := ExecOnce(testbackend.Get(t), func(x, k *Node) *Node { return patchEmbed(x, k, ps, g) }, x, kt)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := gmx.Float32s(out)
	for gy := 0; gy < g; gy++ {
		for gx := 0; gx < g; gx++ {
			for o := 0; o < w; o++ {
				var want float64
				for c := 0; c < 3; c++ {
					for py := 0; py < ps; py++ {
						for px := 0; px < ps; px++ {
							want += float64(img[((gy*ps+py)*s+gx*ps+px)*3+c]) * float64(kernel[((o*3+c)*ps+py)*ps+px])
						}
					}
				}
				if v := got[(gy*g+gx)*w+o]; math.Abs(float64(v)-want) > 1e-4 {
					t.Fatalf("patch (%d,%d) out %d = %v, conv %v", gy, gx, o, v, want)
				}
			}
		}
	}
}

func TestVisionBatchAndRoundTrip(t *testing.T) {
	m := tiny(t)
	imgs := make([]*imaging.RGB8, 3)
	for i := range imgs {
		imgs[i] = imaging.NewRGB8(40+8*i, 36)
		for j := range imgs[i].Pix {
			imgs[i].Pix[j] = uint8((j*7 + i*50) % 256)
		}
	}
	pre, err := PreprocessAll(imgs, 32)
	if err != nil {
		t.Fatal(err)
	}
	all, err := m.EncodeImages(pre)
	if err != nil {
		t.Fatal(err)
	}
	one, err := m.EncodeImages(pre[2:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range one[0] {
		if math.Abs(float64(one[0][i]-all[2][i])) > 1e-4 {
			t.Fatalf("batch dependence at %d: %v vs %v", i, one[0][i], all[2][i])
		}
	}
	// Save and load infers the same sizes and gives the same features.
	path := filepath.Join(t.TempDir(), "clip.safetensors")
	if err := tinyW.Save(path); err != nil {
		t.Fatal(err)
	}
	w2, err := LoadWeights(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if w2.Config != tinyConfig || math.Abs(w2.LogitScale-math.Log(100)) > 1e-6 {
		t.Fatalf("loaded config %+v, logit scale %v", w2.Config, w2.LogitScale)
	}
	m2, err := NewModel(testbackend.Get(t), w2)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	again, err := m2.EncodeImages(pre[:1])
	if err != nil {
		t.Fatal(err)
	}
	for i := range again[0] {
		if math.Abs(float64(again[0][i]-all[0][i])) > 1e-5 {
			t.Fatal("features differ after a save/load round trip")
		}
	}
	if math.Abs(m2.LogitScale()-100) > 1e-3 {
		t.Fatalf("exp(logit_scale) = %v", m2.LogitScale())
	}
	if _, err := LoadWeights(path, "ViT-L/14"); err == nil {
		t.Fatal("tiny weights accepted as ViT-L/14")
	}
	if _, err := LoadWeights(filepath.Join(t.TempDir(), "none.safetensors"), ""); err == nil || !strings.Contains(err.Error(), "openai/clip-vit") {
		t.Fatalf("missing weights error should say where to get them: %v", err)
	}
}

func TestPresetsMatchNotes(t *testing.T) {
	if n := len(ViTL14.ExpectedShapes()); n != 14+24*16+12*16 {
		t.Fatalf("ViT-L/14 has %d tensors", n)
	}
	if g := ViTL14.grid(); g*g+1 != 257 {
		t.Fatalf("ViT-L/14 tokens %d", g*g+1)
	}
	if g := ViTB32.grid(); g*g+1 != 50 {
		t.Fatalf("ViT-B/32 tokens %d", g*g+1)
	}
	if s := ViTL14.ExpectedShapes()["visual_projection.weight"]; s[0] != 768 || s[1] != 1024 {
		t.Fatalf("visual projection %v", s)
	}
}

func TestScores(t *testing.T) {
	var s ScoreAccumulator
	s.Add(Cosine([]float32{1, 0}, []float32{2, 0}))
	if s.SANA(100) != 100 || s.TorchMetrics() != 100 {
		t.Fatalf("identical: %v %v", s.SANA(100), s.TorchMetrics())
	}
	s = ScoreAccumulator{}
	s.Add(Cosine([]float32{1, 0}, []float32{0, 3}))
	if s.SANA(100) != 0 {
		t.Fatalf("orthogonal: %v", s.SANA(100))
	}
	s = ScoreAccumulator{}
	s.Add(Cosine([]float32{1, 0}, []float32{0.5, float32(math.Sqrt(3) / 2)}))
	if math.Abs(s.SANA(100)-50) > 1e-5 {
		t.Fatalf("60 degrees: %v", s.SANA(100))
	}
	neg := ScoreAccumulator{}
	neg.Add(-0.2)
	neg.Add(0.1)
	if math.Abs(neg.SANA(100)+5) > 1e-12 || neg.TorchMetrics() != 0 {
		t.Fatalf("negative mean: SANA %v torchmetrics %v", neg.SANA(100), neg.TorchMetrics())
	}
	// The clamp applies to the mean, not per sample.
	mixed := ScoreAccumulator{}
	mixed.Add(-0.1)
	mixed.Add(0.3)
	if math.Abs(mixed.TorchMetrics()-10) > 1e-12 {
		t.Fatalf("mixed: %v", mixed.TorchMetrics())
	}
	mixed.Merge(neg)
	if mixed.N != 4 {
		t.Fatal("merge")
	}
}

func TestPreprocessCrop(t *testing.T) {
	// A 60x30 image: shorter side 30 -> 224, longer 448; the crop keeps the centre.
	img := imaging.NewRGB8(60, 30)
	for y := 0; y < 30; y++ {
		for x := 0; x < 60; x++ {
			v := uint8(0)
			if x >= 15 && x < 45 {
				v = 255
			}
			for c := 0; c < 3; c++ {
				img.Pix[(y*60+x)*3+c] = v
			}
		}
	}
	f, err := Preprocess(img, 224)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 224 || f.Height != 224 {
		t.Fatalf("%dx%d", f.Width, f.Height)
	}
	white := (1 - imageMean[0]) / imageStd[0]
	if d := f.Pix[(112*224+112)*3] - white; d > 1e-5 || d < -1e-5 {
		t.Fatalf("centre %v want %v", f.Pix[(112*224+112)*3], white)
	}
}
