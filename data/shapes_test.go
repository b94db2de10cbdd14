package data

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestRenderShapesDeterministic(t *testing.T) {
	cfg := DefaultShapesConfig()
	for _, i := range []int{0, 1, 17, 999} {
		a, err := RenderShapes(cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := RenderShapes(cfg, i)
		if a.Prompt != b.Prompt || a.Scene.JSON() != b.Scene.JSON() || !slices.Equal(a.Image.Pix, b.Image.Pix) {
			t.Fatalf("sample %d differs between two renders", i)
		}
		if a.Key != ShapesKey(cfg, i) || a.Prompt != Caption(a.Scene) {
			t.Fatalf("sample %d: key %q prompt %q", i, a.Key, a.Prompt)
		}
		n := len(a.Scene.Objects)
		if n < 1 || n > 3 {
			t.Fatalf("sample %d has %d objects", i, n)
		}
		lo, hi := ObjectSizeRange(32)
		for _, o := range a.Scene.Objects {
			if side := o.Box[2] - o.Box[0]; side != o.Box[3]-o.Box[1] || side > hi || side < 2 || (side < lo && n < 3) {
				t.Fatalf("sample %d: box %v (sizes %d..%d)", i, o.Box, lo, hi)
			}
		}
		// Pixels are exactly the background or the colour of the object covering them.
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				want := Background
				for _, o := range a.Scene.Objects {
					if o.Covers(x, y) {
						want, _ = PaletteRGB(o.Color)
					}
				}
				if got := a.Image.RGBAAt(x, y); got != want {
					t.Fatalf("sample %d pixel (%d,%d) = %v, want %v", i, x, y, got, want)
				}
			}
		}
	}
	other := cfg
	other.Seed = 1
	a, _ := RenderShapes(cfg, 3)
	b, _ := RenderShapes(other, 3)
	if a.Scene.JSON() == b.Scene.JSON() {
		t.Fatal("seeds 0 and 1 give the same scene")
	}
	// Scenes are distinct enough: at least half of 200 captions are different.
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		seen[Caption(SampleScene(cfg, i))] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct captions in 200 samples", len(seen))
	}
}

func TestCoversRules(t *testing.T) {
	count := func(o Object) (n int, rows []int) {
		for y := 0; y < 16; y++ {
			k := 0
			for x := 0; x < 16; x++ {
				if o.Covers(x, y) {
					k++
				}
			}
			if k > 0 {
				rows = append(rows, k)
			}
			n += k
		}
		return n, rows
	}
	for _, tc := range []struct {
		o    Object
		n    int
		rows []int
	}{
		{Object{ShapeSquare, "red", [4]int{2, 3, 6, 7}}, 16, []int{4, 4, 4, 4}},
		{Object{ShapeCircle, "red", [4]int{0, 0, 4, 4}}, 12, []int{2, 4, 4, 2}},
		// Row 0 (py 0.5) needs |px-2| <= 0.25: no pixel centre qualifies.
		{Object{ShapeTriangle, "red", [4]int{0, 0, 4, 4}}, 8, []int{2, 2, 4}},
	} {
		n, rows := count(tc.o)
		if n != tc.n || !slices.Equal(rows, tc.rows) {
			t.Errorf("%s %v: %d pixels in rows %v, want %d in %v", tc.o.Shape, tc.o.Box, n, rows, tc.n, tc.rows)
		}
	}
}

func TestCaption(t *testing.T) {
	obj := func(shape, col string, x, y int) Object {
		return Object{Shape: shape, Color: col, Box: [4]int{x, y, x + 8, y + 8}}
	}
	for _, tc := range []struct {
		objs []Object
		want string
	}{
		{nil, ""},
		{[]Object{obj("circle", "red", 0, 0)}, "a red circle"},
		{[]Object{obj("circle", "red", 0, 0), obj("circle", "red", 20, 20)}, "two red circles"},
		{[]Object{obj("square", "blue", 20, 0), obj("circle", "red", 0, 2), obj("circle", "red", 0, 20)},
			"two red circles left of a blue square"},
		{[]Object{obj("square", "blue", 10, 20), obj("triangle", "green", 12, 0)}, "a green triangle above a blue square"},
		{[]Object{obj("square", "yellow", 22, 0), obj("circle", "red", 0, 0), obj("triangle", "green", 11, 20)},
			"a red circle, a green triangle and a yellow square"},
	} {
		if got := Caption(Scene{Size: 32, Objects: tc.objs}); got != tc.want {
			t.Errorf("Caption(%v) = %q, want %q", tc.objs, got, tc.want)
		}
	}
}

func TestSceneJSONAndValidate(t *testing.T) {
	s := SampleScene(DefaultShapesConfig(), 5)
	back, err := ParseScene(s.JSON())
	if err != nil || back.JSON() != s.JSON() {
		t.Fatalf("ParseScene round trip: %v %v", back, err)
	}
	for _, tc := range []struct {
		s    Scene
		want string
	}{
		{Scene{Size: 32, Objects: []Object{{"hexagon", "red", [4]int{0, 0, 4, 4}}}}, `unknown shape "hexagon"`},
		{Scene{Size: 32, Objects: []Object{{"circle", "pink", [4]int{0, 0, 4, 4}}}}, `unknown colour "pink"`},
		{Scene{Size: 32, Objects: []Object{{"circle", "red", [4]int{30, 0, 34, 4}}}}, "outside the 32x32 image"},
		{Scene{Size: 0}, "scene size 0"},
	} {
		_, err := RenderScene(tc.s)
		assertErrContains(t, err, tc.want)
	}
}

func TestLatentRoundTripExact(t *testing.T) {
	// Every 8-bit level in every channel position, for several patch sizes.
	for _, patch := range []int{1, 2, 4} {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
			if i%4 == 3 {
				img.Pix[i] = 255
			}
		}
		lat, err := EncodeLatent(img, patch)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := lat.Shape().Dimensions, []int{3 * patch * patch, 16 / patch, 16 / patch}; !slices.Equal(got, want) {
			t.Fatalf("patch %d: latent shape %v, want %v", patch, got, want)
		}
		back, err := DecodeLatent(lat)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Pix, img.Pix) {
			t.Fatalf("patch %d: decode(encode(img)) != img", patch)
		}
	}
	// The layout is pixel_unshuffle's: channel c*p*p + dy*p + dx at (i, j) is pixel (j*p+dx, i*p+dy).
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.SetRGBA(3, 2, color.RGBA{R: 10, G: 20, B: 30, A: 255})
	flat, shape, _ := EncodeLatentFlat(img, 2)
	at := func(c, i, j int) float32 { return flat[(c*shape[1]+i)*shape[2]+j] }
	// (x=3, y=2): i=1, dy=0, j=1, dx=1 -> channels c*4+1.
	for c, v := range []uint8{10, 20, 30} {
		if got := at(c*4+1, 1, 1); got != pixelToLatent(v) {
			t.Errorf("channel %d: %v, want %v", c*4+1, got, pixelToLatent(v))
		}
	}
	// All 256 levels map back exactly, also through bfloat16 storage? No: bf16 keeps 8 bits of mantissa,
	// so only float32 and float16 latents round-trip exactly; check float32 here.
	for v := 0; v < 256; v++ {
		if got := latentToPixel(pixelToLatent(uint8(v))); got != uint8(v) {
			t.Fatalf("level %d decodes to %d", v, got)
		}
	}
	// Batched decode of any float dtype; out-of-range values clamp.
	vals := []float32{-100, 100, 0}
	batch := tensors.FromFlatDataAndDimensions(bfloat16.FromFloat32s(append(vals, make([]float32, 9)...)...), 1, 12, 1, 1)
	imgs, err := DecodeLatents(batch)
	if err != nil {
		t.Fatal(err)
	}
	// Channels 0, 1, 2 are R at (0,0), (1,0), (0,1); latent 0 is the mean level round(0.065*255) = 17.
	if got := [3]uint8{imgs[0].RGBAAt(0, 0).R, imgs[0].RGBAAt(1, 0).R, imgs[0].RGBAAt(0, 1).R}; got != [3]uint8{0, 255, 17} ||
		imgs[0].Bounds().Dx() != 2 {
		t.Errorf("decoded R values %v (image %v), want [0 255 17] in 2x2", got, imgs[0].Bounds())
	}
	if _, err := DecodeLatent(tensors.FromFlatDataAndDimensions(make([]float32, 10), 10, 1, 1)); err == nil {
		t.Error("10 channels (not 3p²): want an error")
	}
}

func TestTextEncoder(t *testing.T) {
	e1, err := NewTextEncoder(32, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := NewTextEncoder(32, 16, 1)
	e3, _ := NewTextEncoder(32, 16, 2)
	prompt := "two red circles left of a blue square"
	a, am := e1.EncodeFlat(prompt)
	b, _ := e2.EncodeFlat(prompt)
	c, _ := e3.EncodeFlat(prompt)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different embeddings")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same embeddings")
	}
	wantMask := make([]float32, 16)
	for i := 0; i < 9; i++ { // 8 words + <end>
		wantMask[i] = 1
	}
	if !slices.Equal(am, wantMask) {
		t.Fatalf("mask %v, want %v", am, wantMask)
	}
	for i := 9 * 32; i < len(a); i++ {
		if a[i] != 0 {
			t.Fatalf("padding element %d = %v, want 0", i, a[i])
		}
	}
	// Word order matters (position vectors).
	swapped, _ := e1.EncodeFlat("a blue square left of two red circles")
	if slices.Equal(a, swapped) {
		t.Fatal("swapped caption has the same embedding")
	}
	for _, tc := range []struct {
		prompt string
		want   []string
	}{
		{"", []string{TokenEnd}},
		{"A Red, CIRCLE!", []string{"a", "red", ",", "circle", TokenEnd}},
		{"a purple circle", []string{"a", TokenUnknown, "circle", TokenEnd}},
		{strings.Repeat("red ", 20), append(slices.Repeat([]string{"red"}, 15), TokenEnd)},
	} {
		var got []string
		for _, id := range e1.Tokenize(tc.prompt) {
			got = append(got, Vocabulary[id])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q) = %v, want %v", tc.prompt, got, tc.want)
		}
	}
	// Embedding statistics: token vectors are N(0,1), position vectors N(0,1/4).
	var s, s2 float64
	n := 0
	for _, w := range Vocabulary {
		v, _ := e1.EncodeFlat(w)
		for _, x := range v[:32] {
			s += float64(x)
			s2 += float64(x) * float64(x)
			n++
		}
	}
	if mean, sd := s/float64(n), math.Sqrt(s2/float64(n)); math.Abs(mean) > 0.15 || math.Abs(sd-1.118) > 0.15 {
		t.Errorf("token+position embedding mean %.3f rms %.3f, want about 0 and sqrt(1.25)", mean, sd)
	}
	emb, mask := EncodeText([]string{prompt, ""})
	if !slices.Equal(emb.Shape().Dimensions, []int{2, 16, 32}) || !slices.Equal(mask.Shape().Dimensions, []int{2, 16}) {
		t.Fatalf("EncodeText shapes %s %s", emb.Shape(), mask.Shape())
	}
	ef, mf := float32s(t, emb), float32s(t, mask)
	if !slices.Equal(ef[:16*32], a) || !slices.Equal(mf[:16], am) || mf[16] != 1 || mf[17] != 0 {
		t.Fatal("EncodeText disagrees with EncodeFlat")
	}
}

func TestMakeShapes(t *testing.T) {
	cfg := DefaultShapesConfig()
	cfg.NumSamples = 300
	cfg.ShardRows = 128
	dir := t.TempDir()
	if err := MakeShapes(cfg, dir); err != nil {
		t.Fatal(err)
	}
	assertErrContains(t, MakeShapes(cfg, dir), "already holds 3 shard(s)")
	cfg2 := cfg
	cfg2.Overwrite = true
	cfg2.Format = "arrow"
	cfg2.LatentDType = "float16"
	dir2 := t.TempDir()
	if err := MakeShapes(cfg2, dir2); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, dir2} {
		r := mustOpen(t, []string{d}, ReaderOptions{BatchSize: 16, Prefetch: 2})
		if r.Len() != 300 || len(r.Shards()) != 3 {
			t.Fatalf("%d rows in %d shards", r.Len(), len(r.Shards()))
		}
		if got, ok := ShapesConfigOf(r.Metadata(0)); !ok || got.NumSamples != 300 {
			t.Fatalf("shapes config metadata: %+v %v", got, ok)
		}
		enc, _ := cfg.TextEncoder()
		bs := epochBatches(t, r, 0)
		b := bs[1]
		imgs, err := DecodeLatents(b.Latent)
		if err != nil {
			t.Fatal(err)
		}
		var id int
		for k := range b.Keys {
			if _, err := fmt.Sscanf(b.Keys[k], "shapes-0-%d", &id); err != nil {
				t.Fatal(err)
			}
			want, _ := RenderShapes(cfg, id)
			if !slices.Equal(imgs[k].Pix, want.Image.Pix) {
				t.Fatalf("%s: decoded latent is not the rendered image", b.Keys[k])
			}
			scene, err := ParseScene(b.Meta[k])
			if err != nil || scene.JSON() != want.Scene.JSON() || b.Prompts[k] != want.Prompt {
				t.Fatalf("%s: meta %q prompt %q", b.Keys[k], b.Meta[k], b.Prompts[k])
			}
			emb, mask := enc.EncodeFlat(want.Prompt)
			ef := float32s(t, b.TextEmbedding)[k*16*32 : (k+1)*16*32]
			if !slices.Equal(ef, emb) || !slices.Equal(float32s(t, b.TextMask)[k*16:(k+1)*16], mask) {
				t.Fatalf("%s: text embedding differs from the encoder's", b.Keys[k])
			}
		}
		rep, err := r.Verify(context.Background(), nil)
		if err != nil || !rep.OK() || rep.Rows != 300 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		if m := rep.Stats.Latent; math.Abs(m.Mean) > 0.2 || math.Abs(m.Std-1) > 0.2 {
			t.Errorf("latent stats %v: want about zero mean and unit std", m)
		}
	}
	// The same configuration writes the same bytes.
	dir3 := t.TempDir()
	if err := MakeShapes(cfg, dir3); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"shapes-00000.parquet", "shapes-00002.parquet"} {
		a, b := mustRead(t, filepath.Join(dir, name)), mustRead(t, filepath.Join(dir3, name))
		if !slices.Equal(a, b) {
			t.Fatalf("%s differs between two runs", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.BatchSize = 0 }, "data.batch_size: must be > 0"},
		{func(c *Config) { c.Format = "csv" }, `data.format: "csv": want parquet or arrow`},
		{func(c *Config) { c.Prefetch = -1 }, "data.prefetch: must be >= 0"},
		{func(c *Config) { c.Seed = -3 }, "data.seed: must be >= 0"},
		{func(c *Config) { c.Paths = []string{"a", " "} }, "data.paths[1]: must not be empty"},
		{func(c *Config) { c.LatentDType = "int8" }, `data.latent_dtype: "int8"`},
		{func(c *Config) { c.Shapes.ImageSize = 30; c.Shapes.Patch = 4 }, "data.shapes.patch: 4 must divide image_size 30"},
		{func(c *Config) { c.Shapes.MaxTokens = 8 }, "data.shapes.max_tokens: must be >= 12"},
		{func(c *Config) { c.Shapes.MaxObjects = 0 }, "data.shapes.max_objects: must be in [min_objects, 6]"},
		{func(c *Config) { c.Shapes.Compression = "lz4" }, "data.shapes.compression: compression lz4 is only available for arrow"},
		{func(c *Config) { c.Shapes.NumSamples = 0 }, "data.shapes.num_samples: must be > 0"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		assertErrContains(t, c.Validate(), tc.want)
	}
	c := DefaultConfig()
	c.CacheMB = 0
	c.LatentDType = "bf16"
	opts, err := c.ReaderOptions(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if opts.CacheBytes != -1 || opts.LatentDType != dtypes.BFloat16 || opts.Rank != 1 || opts.WorldSize != 4 || !opts.DropLast || !opts.Shuffle {
		t.Fatalf("ReaderOptions %+v", opts)
	}
}

// TestTextEncodingPhrases: the phrase numbers of captions of the grammar, and the phrase
// encoding equal to the positional one plus the token's phrase vector.
func TestTextEncodingPhrases(t *testing.T) {
	pos, err := NewTextEncoder(32, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	phr, err := NewTextEncoding(32, 16, 1, TextEncodingPhrases)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prompt string
		want   []int
	}{
		{"", []int{0}},
		{"a red circle", []int{0, 0, 0, 0}},
		{"a red circle left of two blue squares", []int{0, 0, 0, 1, 1, 1, 1, 1, 1}},
		{"a red circle above a blue square", []int{0, 0, 0, 1, 1, 1, 1, 1}},
		{"a red circle, a blue square and two green triangles", []int{0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2}},
	} {
		if got := phr.PhraseIndices(phr.Tokenize(tc.prompt)); !slices.Equal(got, tc.want) {
			t.Errorf("PhraseIndices(%q) = %v, want %v", tc.prompt, got, tc.want)
		}
	}
	prompt := "a red circle left of two blue squares"
	a, am := pos.EncodeFlat(prompt)
	b, bm := phr.EncodeFlat(prompt)
	if !slices.Equal(am, bm) {
		t.Fatalf("masks differ: %v vs %v", am, bm)
	}
	k := phr.PhraseIndices(phr.Tokenize(prompt))
	for i := range 16 {
		for d := range 32 {
			want := a[i*32+d]
			if am[i] == 1 {
				want += phr.phr[k[i]][d]
			}
			if b[i*32+d] != want {
				t.Fatalf("token %d dim %d: %v, want positional %v + phrase %d", i, d, b[i*32+d], a[i*32+d], k[i])
			}
		}
	}
	// The phrase vectors are distinct unit-variance draws.
	if slices.Equal(phr.phr[0], phr.phr[1]) || maxAbsF32(phr.phr[0]) < 0.5 {
		t.Errorf("phrase vectors 0 and 1 are equal or tiny")
	}
	if _, err := NewTextEncoding(32, 16, 1, "bag"); err == nil {
		t.Errorf("unknown encoding accepted")
	}
	cfg := DefaultShapesConfig()
	cfg.TextEncoding = "bag"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "data.shapes.text_encoding") {
		t.Errorf("Validate with text_encoding bag: %v, want an error naming data.shapes.text_encoding", err)
	}
	cfg.TextEncoding = "" // shards made before the key: positional
	if e, err := cfg.TextEncoder(); err != nil || e.Encoding != TextEncodingPositional {
		t.Errorf("TextEncoder with an empty encoding: %v, %v; want the positional encoder", e, err)
	}
}

func maxAbsF32(v []float32) float32 {
	var m float32
	for _, x := range v {
		m = max(m, x, -x)
	}
	return m
}

// TestSampleSceneGolden pins the scenes of a default dataset (max_objects 3): adding an option
// must not move the random draws of the datasets already made.
func TestSampleSceneGolden(t *testing.T) {
	cfg := DefaultShapesConfig()
	cfg.MaxObjects = 3
	for i, want := range map[int]string{
		0: `"two blue squares above a red triangle" [{triangle red [13 17 24 28]} {square blue [0 6 9 15]} {square blue [13 0 24 11]}]`,
		3: `"a yellow circle above a red square" [{square red [12 19 22 29]} {circle yellow [0 3 8 11]}]`,
		5: `"a blue square" [{square blue [21 15 31 25]}]`,
	} {
		s := SampleScene(cfg, i)
		if got := fmt.Sprintf("%q %v", Caption(s), s.Objects); got != want {
			t.Errorf("scene %d = %s\nwant %s", i, got, want)
		}
	}
}

// TestRelationHalves: under relation_halves every two-group scene keeps its groups in opposite
// halves along the axis its caption names (every box inside its half), one-group scenes are as
// without the option, and both axes occur.
func TestRelationHalves(t *testing.T) {
	cfg := DefaultShapesConfig()
	cfg.MaxObjects = 2
	plain := cfg
	cfg.RelationHalves = true
	half := cfg.ImageSize / 2
	axes := map[string]int{}
	for i := range 400 {
		s := SampleScene(cfg, i)
		g := s.Groups()
		if len(g) != 2 {
			if p := SampleScene(plain, i); fmt.Sprint(p) != fmt.Sprint(s) {
				t.Fatalf("scene %d of one group differs with relation_halves: %v vs %v", i, s, p)
			}
			continue
		}
		c := Caption(s)
		axis := 0
		if strings.Contains(c, " above ") {
			axis = 1
		}
		axes[[]string{"left of", "above"}[axis]]++
		misplaced := 0 // objects in the half of the other group (the caption's first group is first)
		for _, o := range s.Objects {
			inFirst := o.Box[2+axis] <= half
			inSecond := o.Box[axis] >= half
			if !inFirst && !inSecond {
				t.Fatalf("scene %d (%q): %v straddles the middle along axis %d", i, c, o.Box, axis)
			}
			named := strings.HasPrefix(c, "a "+o.Color+" "+o.Shape) || strings.HasPrefix(c, "two "+o.Color+" "+o.Shape)
			if inFirst != named {
				misplaced++
			}
		}
		if misplaced != 0 {
			t.Fatalf("scene %d (%q): objects %v are not in the halves the caption names", i, c, s.Objects)
		}
	}
	if axes["left of"] < 20 || axes["above"] < 20 {
		t.Errorf("relation axes drawn %v, want both often", axes)
	}
}

// TestTextEncodingRoles: the side of every token for captions of the grammar (worked by hand),
// and the roles encoding equal to the phrases one plus the token's side vector, the phrases one
// itself for a caption without a relation.
func TestTextEncodingRoles(t *testing.T) {
	phr, err := NewTextEncoding(32, 16, 1, TextEncodingPhrases)
	if err != nil {
		t.Fatal(err)
	}
	rol, err := NewTextEncoding(32, 16, 1, TextEncodingRoles)
	if err != nil {
		t.Fatal(err)
	}
	const (
		N = SideNone
		L = SideLeft
		R = SideRight
		U = SideUpper
		D = SideLower
	)
	for _, tc := range []struct {
		prompt string
		want   []int
	}{
		{"", []int{N}},
		{"two red circles", []int{N, N, N, N}},
		// a red circle | left of two blue squares <end>
		{"a red circle left of two blue squares", []int{L, L, L, R, R, R, R, R, R}},
		{"a red circle right of a blue square", []int{R, R, R, L, L, L, L, L, L}},
		{"a red circle above a blue square", []int{U, U, U, D, D, D, D, D}},
		{"a red circle below a blue square", []int{D, D, D, U, U, U, U, U}},
		{"a red circle next to a blue square", []int{N, N, N, N, N, N, N, N, N}},
		{"a red circle, a blue square and two green triangles", []int{N, N, N, N, N, N, N, N, N, N, N, N}},
	} {
		if got := rol.SideIndices(rol.Tokenize(tc.prompt)); !slices.Equal(got, tc.want) {
			t.Errorf("SideIndices(%q) = %v, want %v", tc.prompt, got, tc.want)
		}
	}
	for _, prompt := range []string{"a red circle left of two blue squares", "two red circles"} {
		a, _ := phr.EncodeFlat(prompt)
		b, _ := rol.EncodeFlat(prompt)
		s := rol.SideIndices(rol.Tokenize(prompt))
		for i := range s {
			for d := range 32 {
				if want := a[i*32+d] + rol.side[s[i]][d]; b[i*32+d] != want {
					t.Fatalf("%q token %d dim %d: %v, want phrases %v + side %d", prompt, i, d, b[i*32+d], a[i*32+d], s[i])
				}
			}
		}
	}
	if maxAbsF32(rol.side[SideNone]) != 0 || maxAbsF32(rol.side[SideLeft]) < 0.5 || slices.Equal(rol.side[SideLeft], rol.side[SideRight]) {
		t.Error("side vectors: none must be zero, the others distinct unit-variance draws")
	}
}

// TestContentDiff: the row count does not matter, an empty text encoding is the positional
// one, and every content setting that differs is named with both values.
func TestContentDiff(t *testing.T) {
	a := DefaultShapesConfig()
	b := a
	b.NumSamples, b.TextEncoding = a.NumSamples+5, ""
	a.TextEncoding = TextEncodingPositional
	if d := a.ContentDiff(b); len(d) != 0 {
		t.Errorf("same content: %v", d)
	}
	b.TextEncoding, b.RelationHalves = TextEncodingRoles, true
	want := []string{"data.shapes.relation_halves true (here false)", "data.shapes.text_encoding roles (here positional)"}
	if d := a.ContentDiff(b); !slices.Equal(d, want) {
		t.Errorf("ContentDiff = %v, want %v", d, want)
	}
}
