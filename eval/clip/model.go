package clip

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph code reads best with the ops unqualified.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/gmx"
	"github.com/sprint-distill/sprint/safetensors"
)

// WeightsHelp says where the CLIP weights come from.
const WeightsHelp = `CLIP weights are the model.safetensors of the Hugging Face repos openai/clip-vit-large-patch14 ` +
	`(ViT-L/14, used by SANA's CLIP score and GenEval) or openai/clip-vit-base-patch32 (ViT-B/32); ` +
	`download them once and point the config at the local file.`

// Config describes a CLIP model (reference notes §2.1).
type Config struct {
	ImageSize, PatchSize                   int
	VisionWidth, VisionLayers, VisionHeads int
	TextWidth, TextLayers, TextHeads       int
	EmbedDim, VocabSize, ContextLength     int
}

// Presets of the two OpenAI models the protocols use.
var (
	ViTL14 = Config{ImageSize: 224, PatchSize: 14, VisionWidth: 1024, VisionLayers: 24, VisionHeads: 16,
		TextWidth: 768, TextLayers: 12, TextHeads: 12, EmbedDim: 768, VocabSize: 49408, ContextLength: 77}
	ViTB32 = Config{ImageSize: 224, PatchSize: 32, VisionWidth: 768, VisionLayers: 12, VisionHeads: 12,
		TextWidth: 512, TextLayers: 12, TextHeads: 8, EmbedDim: 512, VocabSize: 49408, ContextLength: 77}
)

// Variants maps the model names used in configs to presets.
var Variants = map[string]Config{"ViT-L/14": ViTL14, "ViT-B/32": ViTB32}

// ConfigFor returns the preset of a variant name ("ViT-L/14" or "ViT-B/32").
func ConfigFor(variant string) (Config, error) {
	c, ok := Variants[variant]
	if !ok {
		return Config{}, fmt.Errorf("unknown CLIP model %q (known: ViT-L/14, ViT-B/32)", variant)
	}
	return c, nil
}

func (c Config) grid() int { return c.ImageSize / c.PatchSize }

func (c Config) validate() error {
	switch {
	case c.PatchSize <= 0 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("CLIP config: image size %d is not a multiple of patch %d", c.ImageSize, c.PatchSize)
	case c.VisionHeads <= 0 || c.VisionWidth%c.VisionHeads != 0:
		return fmt.Errorf("CLIP config: vision width %d not divisible into %d heads", c.VisionWidth, c.VisionHeads)
	case c.TextHeads <= 0 || c.TextWidth%c.TextHeads != 0:
		return fmt.Errorf("CLIP config: text width %d not divisible into %d heads", c.TextWidth, c.TextHeads)
	case c.EmbedDim <= 0 || c.VocabSize <= 0 || c.ContextLength <= 0 || c.VisionLayers <= 0 || c.TextLayers <= 0:
		return fmt.Errorf("CLIP config: non-positive size in %+v", c)
	}
	return nil
}

type tensorData struct {
	shape []int
	data  []float32
}

// Weights are a CLIP model's tensors under Hugging Face CLIPModel names.
type Weights struct {
	Config     Config
	LogitScale float64 // ln of the similarity scale (ln 100 for OpenAI's weights)
	tensors    map[string]tensorData
}

// layerKeys are the per-layer tensors of an encoder layer and their shapes for width w.
func layerKeys(w int) map[string][]int {
	return map[string][]int{
		"self_attn.q_proj.weight": {w, w}, "self_attn.q_proj.bias": {w},
		"self_attn.k_proj.weight": {w, w}, "self_attn.k_proj.bias": {w},
		"self_attn.v_proj.weight": {w, w}, "self_attn.v_proj.bias": {w},
		"self_attn.out_proj.weight": {w, w}, "self_attn.out_proj.bias": {w},
		"layer_norm1.weight": {w}, "layer_norm1.bias": {w},
		"layer_norm2.weight": {w}, "layer_norm2.bias": {w},
		"mlp.fc1.weight": {4 * w, w}, "mlp.fc1.bias": {4 * w},
		"mlp.fc2.weight": {w, 4 * w}, "mlp.fc2.bias": {w},
	}
}

// ExpectedShapes lists every tensor name a CLIP model of this config needs, with its shape.
func (c Config) ExpectedShapes() map[string][]int {
	g := c.grid()
	m := map[string][]int{
		"vision_model.embeddings.class_embedding":           {c.VisionWidth},
		"vision_model.embeddings.patch_embedding.weight":    {c.VisionWidth, 3, c.PatchSize, c.PatchSize},
		"vision_model.embeddings.position_embedding.weight": {g*g + 1, c.VisionWidth},
		"vision_model.pre_layrnorm.weight":                  {c.VisionWidth},
		"vision_model.pre_layrnorm.bias":                    {c.VisionWidth},
		"vision_model.post_layernorm.weight":                {c.VisionWidth},
		"vision_model.post_layernorm.bias":                  {c.VisionWidth},
		"visual_projection.weight":                          {c.EmbedDim, c.VisionWidth},
		"text_model.embeddings.token_embedding.weight":      {c.VocabSize, c.TextWidth},
		"text_model.embeddings.position_embedding.weight":   {c.ContextLength, c.TextWidth},
		"text_model.final_layer_norm.weight":                {c.TextWidth},
		"text_model.final_layer_norm.bias":                  {c.TextWidth},
		"text_projection.weight":                            {c.EmbedDim, c.TextWidth},
		"logit_scale":                                       {},
	}
	for i := 0; i < c.VisionLayers; i++ {
		for k, s := range layerKeys(c.VisionWidth) {
			m[fmt.Sprintf("vision_model.encoder.layers.%d.%s", i, k)] = s
		}
	}
	for i := 0; i < c.TextLayers; i++ {
		for k, s := range layerKeys(c.TextWidth) {
			m[fmt.Sprintf("text_model.encoder.layers.%d.%s", i, k)] = s
		}
	}
	return m
}

// inferConfig reads the model sizes from the tensor shapes (heads are width/64, as in OpenAI's models).
func inferConfig(f *safetensors.File) (Config, error) {
	dims := func(name string) []int {
		e, ok := f.Entry(name)
		if !ok {
			return nil
		}
		return e.Shape
	}
	patch := dims("vision_model.embeddings.patch_embedding.weight")
	pos := dims("vision_model.embeddings.position_embedding.weight")
	tok := dims("text_model.embeddings.token_embedding.weight")
	tpos := dims("text_model.embeddings.position_embedding.weight")
	vproj := dims("visual_projection.weight")
	if len(patch) != 4 || len(pos) != 2 || len(tok) != 2 || len(tpos) != 2 || len(vproj) != 2 {
		return Config{}, errors.New("not a Hugging Face CLIPModel checkpoint (embedding or projection tensors missing)")
	}
	countLayers := func(prefix string) int {
		n := 0
		for _, name := range f.Names() {
			if rest, ok := strings.CutPrefix(name, prefix); ok {
				if i, err := strconv.Atoi(rest[:strings.IndexByte(rest+".", '.')]); err == nil && i+1 > n {
					n = i + 1
				}
			}
		}
		return n
	}
	grid := int(math.Round(math.Sqrt(float64(pos[0] - 1))))
	c := Config{
		PatchSize: patch[2], ImageSize: grid * patch[2],
		VisionWidth: patch[0], VisionLayers: countLayers("vision_model.encoder.layers."), VisionHeads: max(1, patch[0]/64),
		TextWidth: tok[1], TextLayers: countLayers("text_model.encoder.layers."), TextHeads: max(1, tok[1]/64),
		EmbedDim: vproj[0], VocabSize: tok[0], ContextLength: tpos[0],
	}
	return c, c.validate()
}

// LoadWeights reads a Hugging Face CLIPModel safetensors file (fp32, fp16 or bf16). When variant is
// not empty the sizes must match that preset.
func LoadWeights(path, variant string) (*Weights, error) {
	f, err := safetensors.OpenWeights(path, "CLIP weights", WeightsHelp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := inferConfig(f)
	if err != nil {
		return nil, fmt.Errorf("CLIP weights %s: %w", path, err)
	}
	if variant != "" {
		want, err := ConfigFor(variant)
		if err != nil {
			return nil, err
		}
		if cfg != want {
			return nil, fmt.Errorf("CLIP weights %s have sizes %+v, which are not those of %s", path, cfg, variant)
		}
	}
	w := &Weights{Config: cfg, tensors: map[string]tensorData{}}
	shapes := cfg.ExpectedShapes()
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		want := shapes[name]
		data, shape, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("CLIP weights %s: %w", path, err)
		}
		if !slices.Equal(shape, want) {
			return nil, fmt.Errorf("CLIP weights %s: %q has shape %v, want %v", path, name, shape, want)
		}
		if name == "logit_scale" {
			w.LogitScale = float64(data[0])
			continue
		}
		w.tensors[name] = tensorData{shape: shape, data: data}
	}
	return w, nil
}

// Save writes the weights as a Hugging Face-named safetensors file (for tests and conversions).
func (w *Weights) Save(path string) error {
	names := make([]string, 0, len(w.tensors))
	for n := range w.tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	ts := make([]safetensors.Float32Tensor, 0, len(names)+1)
	for _, n := range names {
		ts = append(ts, safetensors.Float32Tensor{Name: n, Shape: w.tensors[n].shape, Data: w.tensors[n].data})
	}
	ts = append(ts, safetensors.Float32Tensor{Name: "logit_scale", Shape: []int{}, Data: []float32{float32(w.LogitScale)}})
	return safetensors.WriteFloat32File(path, ts)
}

// RandomWeights makes a randomly initialised model of the given config (tests and benchmarks).
func RandomWeights(cfg Config, seed uint64) (*Weights, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0xc11f))
	w := &Weights{Config: cfg, LogitScale: math.Log(100), tensors: map[string]tensorData{}}
	for name, shape := range cfg.ExpectedShapes() {
		if name == "logit_scale" {
			continue
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		switch {
		case strings.HasSuffix(name, "norm1.weight"), strings.HasSuffix(name, "norm2.weight"),
			strings.HasSuffix(name, "layrnorm.weight"), strings.HasSuffix(name, "layernorm.weight"), strings.HasSuffix(name, "layer_norm.weight"):
			for i := range data {
				data[i] = float32(1 + 0.1*r.NormFloat64())
			}
		default:
			std := 0.02
			if len(shape) >= 2 {
				std = 1 / math.Sqrt(float64(shape[len(shape)-1]))
			}
			if strings.Contains(name, "embedding") || strings.HasSuffix(name, "bias") {
				std = 0.1
			}
			for i := range data {
				data[i] = float32(r.NormFloat64() * std)
			}
		}
		w.tensors[name] = tensorData{shape: shape, data: data}
	}
	return w, nil
}

// Model runs CLIP's two towers.
type Model struct {
	cfg        Config
	logitScale float64
	params     *gmx.Params
	vision     *gmx.Program
	text       *gmx.Program
}

// NewModel prepares the towers on a backend.
func NewModel(backend compute.Backend, w *Weights) (*Model, error) {
	cfg := w.Config
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	params := gmx.NewParams()
	for name, want := range cfg.ExpectedShapes() {
		if name == "logit_scale" {
			continue
		}
		t, ok := w.tensors[name]
		if !ok || !slices.Equal(t.shape, want) {
			params.Finalize()
			return nil, fmt.Errorf("CLIP weights lack %s %v", name, want)
		}
		data, dims := t.data, t.shape
		if name == "vision_model.embeddings.patch_embedding.weight" {
			p := cfg.PatchSize
			data, dims = patchKernel(data, p, cfg.VisionWidth), []int{p * p * 3, cfg.VisionWidth}
		}
		if err := params.Add(name, data, dims...); err != nil {
			params.Finalize()
			return nil, err
		}
	}
	m := &Model{cfg: cfg, logitScale: w.LogitScale, params: params}
	var err error
	m.vision, err = gmx.NewProgram(backend, "clip_vision", params, 1, func(in []*Node, p func(string) *Node) []*Node {
		return []*Node{visionTower(in[0], p, cfg)}
	})
	if err != nil {
		params.Finalize()
		return nil, err
	}
	m.text, err = gmx.NewProgram(backend, "clip_text", params, 1, func(in []*Node, p func(string) *Node) []*Node {
		return []*Node{textTower(in[0], p, cfg)}
	})
	if err != nil {
		params.Finalize()
		return nil, err
	}
	return m, nil
}

// Config returns the model sizes.
func (m *Model) Config() Config { return m.cfg }

// LogitScale is exp(logit_scale): 100 for OpenAI's weights.
func (m *Model) LogitScale() float64 { return math.Exp(m.logitScale) }

// Close releases compiled graphs and weights.
func (m *Model) Close() {
	m.vision.Finalize()
	m.text.Finalize()
	m.params.Finalize()
}

// EncodeImages returns encode_image for preprocessed images (ImageSize², normalised, see Preprocess).
func (m *Model) EncodeImages(imgs []*imaging.Float) ([][]float32, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	x, err := gmx.ImageBatch("CLIP", imgs, m.cfg.ImageSize, m.cfg.ImageSize)
	if err != nil {
		return nil, err
	}
	defer x.FinalizeAll()
	return m.run(m.vision, x, len(imgs))
}

// EncodeTokens returns encode_text for token sequences of ContextLength ids (see Tokenizer.Tokenize).
func (m *Model) EncodeTokens(ids [][]int32) ([][]float32, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	flat := make([]int32, 0, len(ids)*m.cfg.ContextLength)
	for i, seq := range ids {
		if len(seq) != m.cfg.ContextLength {
			return nil, fmt.Errorf("CLIP text %d has %d tokens, want %d", i, len(seq), m.cfg.ContextLength)
		}
		for _, id := range seq {
			if id < 0 || int(id) >= m.cfg.VocabSize {
				return nil, fmt.Errorf("CLIP text %d: token id %d outside the vocabulary", i, id)
			}
		}
		flat = append(flat, seq...)
	}
	x, err := gmx.Tensor(flat, len(ids), m.cfg.ContextLength)
	if err != nil {
		return nil, err
	}
	defer x.FinalizeAll()
	return m.run(m.text, x, len(ids))
}

func (m *Model) run(p *gmx.Program, x *tensors.Tensor, n int) ([][]float32, error) {
	outs, err := p.Run(x)
	if err != nil {
		return nil, err
	}
	flat, err := gmx.Float32s(outs[0])
	if err != nil {
		return nil, err
	}
	d := m.cfg.EmbedDim
	if len(flat) != n*d {
		return nil, fmt.Errorf("CLIP produced %d values for %d embeddings of %d", len(flat), n, d)
	}
	feats := make([][]float32, n)
	for i := range feats {
		feats[i] = flat[i*d : (i+1)*d]
	}
	return feats, nil
}

// --- graph ---

const layerNormEpsilon = 1e-5

func layerNorm(x, gamma, beta *Node) *Node {
	mean := ReduceAndKeep(x, ReduceMean, -1)
	c := Sub(x, mean)
	v := ReduceAndKeep(Square(c), ReduceMean, -1)
	y := Div(c, Sqrt(AddScalar(v, layerNormEpsilon)))
	return Add(Mul(y, ExpandLeftToRank(gamma, y.Rank())), ExpandLeftToRank(beta, y.Rank()))
}

// linear is x·Wᵀ + b with W stored [out, in], as in PyTorch.
func linear(x, w, b *Node) *Node {
	y := Einsum("btd,od->bto", x, w)
	if b != nil {
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

func quickGELU(x *Node) *Node { return Mul(x, Sigmoid(MulScalar(x, 1.702))) }

// encoderLayer is one pre-LN residual block: x += MHA(LN1(x)); x += MLP(LN2(x)).
func encoderLayer(x *Node, p func(string) *Node, prefix string, heads int, mask *Node) *Node {
	dims := x.Shape().Dimensions
	b, t, w := dims[0], dims[1], dims[2]
	dh := w / heads
	h := layerNorm(x, p(prefix+"layer_norm1.weight"), p(prefix+"layer_norm1.bias"))
	q := MulScalar(linear(h, p(prefix+"self_attn.q_proj.weight"), p(prefix+"self_attn.q_proj.bias")), 1/math.Sqrt(float64(dh)))
	k := linear(h, p(prefix+"self_attn.k_proj.weight"), p(prefix+"self_attn.k_proj.bias"))
	v := linear(h, p(prefix+"self_attn.v_proj.weight"), p(prefix+"self_attn.v_proj.bias"))
	q, k, v = Reshape(q, b, t, heads, dh), Reshape(k, b, t, heads, dh), Reshape(v, b, t, heads, dh)
	scores := Einsum("bqhd,bkhd->bhqk", q, k)
	if mask != nil {
		scores = Add(scores, mask)
	}
	attn := Softmax(scores, -1)
	o := Reshape(Einsum("bhqk,bkhd->bqhd", attn, v), b, t, w)
	x = Add(x, linear(o, p(prefix+"self_attn.out_proj.weight"), p(prefix+"self_attn.out_proj.bias")))
	h = layerNorm(x, p(prefix+"layer_norm2.weight"), p(prefix+"layer_norm2.bias"))
	h = linear(quickGELU(linear(h, p(prefix+"mlp.fc1.weight"), p(prefix+"mlp.fc1.bias"))), p(prefix+"mlp.fc2.weight"), p(prefix+"mlp.fc2.bias"))
	return Add(x, h)
}

// patchEmbed is the stride-p p×p patch convolution (no bias) as one product: [B, g, p, g, p, 3] ->
// [B, g, g, p, p, 3] -> [B, g·g, p·p·3] times the kernel [p·p·3, W].
func patchEmbed(img, kernel *Node, ps, g int) *Node {
	b := img.Shape().Dimensions[0]
	x := Reshape(img, b, g, ps, g, ps, 3)
	x = TransposeAllAxes(x, 0, 1, 3, 2, 4, 5)
	x = Reshape(x, b, g*g, ps*ps*3)
	return Einsum("bnk,kw->bnw", x, kernel)
}

// visionTower maps normalised images [B, S, S, 3] to image embeddings [B, EmbedDim].
func visionTower(img *Node, p func(string) *Node, cfg Config) *Node {
	b := img.Shape().Dimensions[0]
	ps, g, w := cfg.PatchSize, cfg.grid(), cfg.VisionWidth
	if d := img.Shape().Dimensions; d[1] != cfg.ImageSize || d[2] != cfg.ImageSize {
		panic(fmt.Errorf("CLIP vision tower: image %dx%d, want %d", d[1], d[2], cfg.ImageSize))
	}
	x := patchEmbed(img, p("vision_model.embeddings.patch_embedding.weight"), ps, g)
	cls := BroadcastToDims(Reshape(p("vision_model.embeddings.class_embedding"), 1, 1, w), b, 1, w)
	x = Concatenate([]*Node{cls, x}, 1)
	x = Add(x, ExpandAxes(p("vision_model.embeddings.position_embedding.weight"), 0))
	x = layerNorm(x, p("vision_model.pre_layrnorm.weight"), p("vision_model.pre_layrnorm.bias"))
	for i := 0; i < cfg.VisionLayers; i++ {
		x = encoderLayer(x, p, fmt.Sprintf("vision_model.encoder.layers.%d.", i), cfg.VisionHeads, nil)
	}
	pooled := Reshape(Slice(x, AxisRange(), AxisElem(0), AxisRange()), b, 1, w)
	pooled = layerNorm(pooled, p("vision_model.post_layernorm.weight"), p("vision_model.post_layernorm.bias"))
	return Reshape(linear(pooled, p("visual_projection.weight"), nil), b, cfg.EmbedDim)
}

// textTower maps token ids [B, T] to text embeddings [B, EmbedDim], reading the features at the EOT
// position (the arg-max id, as EOT has the largest id).
func textTower(ids *Node, p func(string) *Node, cfg Config) *Node {
	g := ids.Graph()
	dims := ids.Shape().Dimensions
	b, t := dims[0], dims[1]
	x := Gather(p("text_model.embeddings.token_embedding.weight"), ExpandAxes(ids, -1))
	x = Add(x, ExpandAxes(Slice(p("text_model.embeddings.position_embedding.weight"), AxisRange(0, t), AxisRange()), 0))
	// Causal mask: position q attends to k <= q.
	mask := make([]float32, t*t)
	for q := 0; q < t; q++ {
		for k := q + 1; k < t; k++ {
			mask[q*t+k] = float32(math.Inf(-1))
		}
	}
	maskNode := Reshape(Const(g, mask), 1, 1, t, t)
	for i := 0; i < cfg.TextLayers; i++ {
		x = encoderLayer(x, p, fmt.Sprintf("text_model.encoder.layers.%d.", i), cfg.TextHeads, maskNode)
	}
	x = layerNorm(x, p("text_model.final_layer_norm.weight"), p("text_model.final_layer_norm.bias"))
	eot := OneHot(ArgMax(ids, 1), t, dtypes.Float32)
	pooled := Reshape(Einsum("bt,btw->bw", eot, x), b, 1, cfg.TextWidth)
	return Reshape(linear(pooled, p("text_projection.weight"), nil), b, cfg.EmbedDim)
}

// Preprocess is CLIP's image transform: Resize(size, bicubic) of the shorter side, CenterCrop(size)
// with round-half-even offsets, [0,1] then normalisation by CLIP's mean and std.
func Preprocess(img *imaging.RGB8, size int) (*imaging.Float, error) {
	r, err := imaging.ResizeShorterSide(img, size, imaging.Bicubic)
	if err != nil {
		return nil, err
	}
	if r, err = imaging.CenterCrop(r, size, size); err != nil {
		return nil, err
	}
	f := r.ToFloat()
	for i, v := range f.Pix {
		c := i % 3
		f.Pix[i] = (v - imageMean[c]) / imageStd[c]
	}
	return f, nil
}

var (
	imageMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	imageStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// patchKernel rearranges the patch embedding's convolution kernel [width, 3, p, p] (OIHW) into
// the matrix [p*p*3, width] with row index (py*p+px)*3+c, the layout of flattened HWC patches.
func patchKernel(kernel []float32, p, width int) []float32 {
	out := make([]float32, p*p*3*width)
	for o := 0; o < width; o++ {
		for c := 0; c < 3; c++ {
			for py := 0; py < p; py++ {
				for px := 0; px < p; px++ {
					out[((py*p+px)*3+c)*width+o] = kernel[((o*3+c)*p+py)*p+px]
				}
			}
		}
	}
	return out
}

// PreprocessAll runs Preprocess on every image in parallel.
func PreprocessAll(imgs []*imaging.RGB8, size int) ([]*imaging.Float, error) {
	return imaging.PreprocessAll(imgs, func(img *imaging.RGB8) (*imaging.Float, error) { return Preprocess(img, size) })
}
