package caption

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/gemma"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

// runeTokenizer is a test tokenizer: <bos> = 2, <pad> = 0, every rune one token
// (id 3 + rune mod 37), so token counts are rune counts.
type runeTokenizer struct{}

func (runeTokenizer) EncodeWithBOS(text string) []int {
	ids := []int{2}
	for _, r := range text {
		ids = append(ids, 3+int(r)%37)
	}
	return ids
}
func (runeTokenizer) Pad() int { return 0 }

func tid(r rune) int32 { return int32(3 + int(r)%37) }

// smallConfig: instruction "ab\nc " (the lines "ab" and "c " joined with "\n"), L = 5.
func smallConfig() Config {
	return Config{TextEncoderName: "gemma-2-2b-it", ModelMaxLength: 5, ChiPrompt: []string{"ab", "c "}, CaptionChannels: 3}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.ModelMaxLength != 300 || c.CaptionChannels != 2304 || c.TextEncoderName != "gemma-2-2b-it" || len(c.ChiPrompt) != 8 {
		t.Errorf("%+v", c)
	}
	ins := c.Instruction()
	if !strings.HasPrefix(ins, "Given a user prompt, generate an \"Enhanced prompt\"") || !strings.HasSuffix(ins, "evaluations:\nUser Prompt: ") ||
		strings.Count(ins, "\n") != 7 {
		t.Errorf("instruction:\n%s", ins)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	bad := c
	bad.TextEncoderName = "T5"
	bad.ModelMaxLength = 1
	if err := bad.Validate(); err == nil || !containsAll(err.Error(), "text_encoder_name", "model_max_length") {
		t.Errorf("bad config: %v", err)
	}
}

// TestLayoutRules: n_chi counts the instruction with <bos>; T = n_chi + L − 2; kept positions
// are 0 and the last L−1; without an instruction T = L.
func TestLayoutRules(t *testing.T) {
	tok := runeTokenizer{}
	lay, err := NewLayout(tok, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	// "ab\nc " is 5 runes: n_chi = 6 with <bos>; T = 6 + 5 − 2 = 9; keep [0, 5, 6, 7, 8].
	if lay.Instruction != "ab\nc " || lay.InstructionTokens != 6 || lay.Length != 9 || !slices.Equal(lay.Select, []int{0, 5, 6, 7, 8}) {
		t.Errorf("layout %+v", lay)
	}
	none := smallConfig()
	none.ChiPrompt = nil
	lay0, err := NewLayout(tok, none)
	if err != nil || lay0.Length != 5 || lay0.InstructionTokens != 0 || !slices.Equal(lay0.Select, []int{0, 1, 2, 3, 4}) {
		t.Errorf("no instruction: %+v, %v", lay0, err)
	}
	// [""] is an instruction in the reference (a non-empty list): n_chi = 1, T = 4, and
	// Python's indexes [0, −4, −3, −2, −1] pick position 0 twice.
	empty := smallConfig()
	empty.ChiPrompt = []string{""}
	layE, err := NewLayout(tok, empty)
	if err != nil || layE.Length != 4 || !slices.Equal(layE.Select, []int{0, 0, 1, 2, 3}) {
		t.Errorf(`instruction [""]: %+v, %v`, layE, err)
	}
}

// TestTokenizeRows: instruction + prompt, <bos>, right truncation to T, right padding.
func TestTokenizeRows(t *testing.T) {
	lay, _ := NewLayout(runeTokenizer{}, smallConfig())
	toks, err := lay.Tokenize(runeTokenizer{}, []string{"xy", "abcdefgh", ""})
	if err != nil {
		t.Fatal(err)
	}
	ins := []int32{2, tid('a'), tid('b'), tid('\n'), tid('c'), tid(' ')}
	row0 := append(slices.Clone(ins), tid('x'), tid('y'), 0)
	row1 := append(slices.Clone(ins), tid('a'), tid('b'), tid('c')) // truncated at T = 9
	row2 := append(slices.Clone(ins), 0, 0, 0)
	want := slices.Concat(row0, row1, row2)
	if !slices.Equal(toks.IDs, want) {
		t.Errorf("ids\n got %v\nwant %v", toks.IDs, want)
	}
	wantMask := []float32{1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}
	if !slices.Equal(toks.Mask, wantMask) {
		t.Errorf("mask\n got %v\nwant %v", toks.Mask, wantMask)
	}
	if _, err := lay.Tokenize(runeTokenizer{}, []string{"ok", "bad\xff"}); err == nil || !strings.Contains(err.Error(), "prompt 1") {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

// positionModel is a fake text model whose hidden state encodes what it saw:
// h[b, t, d] = 1000·id + 10·t + d + 0.5·mask, so the selected positions can be read back.
type positionModel struct {
	D     int
	calls [][]int // (B, T) of each call
}

func (m *positionModel) Hidden(ids, mask *tensors.Tensor) (*tensors.Tensor, error) {
	B, T := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	m.calls = append(m.calls, []int{B, T})
	id := tensors.MustCopyFlatData[int32](ids)
	mk := tensors.MustCopyFlatData[float32](mask)
	out := make([]float32, B*T*m.D)
	for i := range B * T {
		for d := range m.D {
			out[i*m.D+d] = float32(1000*int(id[i])+10*(i%T)+d) + 0.5*mk[i]
		}
	}
	return tensors.FromFlatDataAndDimensions(out, B, T, m.D), nil
}

// TestEncodeSelection: the embeddings are the hidden states at positions [0, 5, 6, 7, 8] and
// the mask is selected the same way; batches have a fixed size (a filler row completes the last).
func TestEncodeSelection(t *testing.T) {
	m := &positionModel{D: 3}
	var progress []int
	e, err := NewEncoder(m, runeTokenizer{}, smallConfig(), Options{BatchSize: 2, Progress: func(done, total int) { progress = append(progress, done, total) }})
	if err != nil {
		t.Fatal(err)
	}
	prompts := []string{"xy", "abcdefgh", ""}
	emb, mask, err := e.Encode(context.Background(), prompts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(emb.Shape().Dimensions, []int{3, 5, 3}) || emb.DType() != dtypes.Float32 ||
		!slices.Equal(mask.Shape().Dimensions, []int{3, 5}) || mask.DType() != dtypes.Float32 {
		t.Fatalf("shapes %s, %s; want float32 (3, 5, 3), (3, 5)", emb.Shape(), mask.Shape())
	}
	if !slices.EqualFunc(m.calls, [][]int{{2, 9}, {2, 9}}, slices.Equal) || !slices.Equal(progress, []int{2, 3, 3, 3}) {
		t.Errorf("calls %v (want two of (2, 9)), progress %v", m.calls, progress)
	}
	lay := e.Layout()
	toks, _ := lay.Tokenize(runeTokenizer{}, prompts)
	ev := tensors.MustCopyFlatData[float32](emb)
	mv := tensors.MustCopyFlatData[float32](mask)
	wantMask := []float32{1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}
	if !slices.Equal(mv, wantMask) {
		t.Errorf("mask %v, want %v", mv, wantMask)
	}
	for b := range 3 {
		for l, pos := range []int{0, 5, 6, 7, 8} {
			for d := range 3 {
				want := float32(1000*int(toks.IDs[b*9+pos])+10*pos+d) + 0.5*toks.Mask[b*9+pos]
				if got := ev[(b*5+l)*3+d]; got != want {
					t.Errorf("emb[%d, %d, %d] = %g, want %g (position %d)", b, l, d, got, want, pos)
				}
			}
		}
	}
}

// TestEncodeNull: "" without the instruction, <bos> + L−1 <pad>, every position kept, (L, D).
func TestEncodeNull(t *testing.T) {
	m := &positionModel{D: 3}
	e, err := NewEncoder(m, runeTokenizer{}, smallConfig(), Options{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	emb, mask, err := e.EncodeNull(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(emb.Shape().Dimensions, []int{5, 3}) || !slices.Equal(mask.Shape().Dimensions, []int{5}) {
		t.Fatalf("shapes %s %s, want (5, 3) and (5)", emb.Shape(), mask.Shape())
	}
	if !slices.EqualFunc(m.calls, [][]int{{1, 5}}, slices.Equal) {
		t.Errorf("calls %v, want one (1, 5)", m.calls)
	}
	if mv := tensors.MustCopyFlatData[float32](mask); !slices.Equal(mv, []float32{1, 0, 0, 0, 0}) {
		t.Errorf("null mask %v", mv)
	}
	ev := tensors.MustCopyFlatData[float32](emb)
	for pos := range 5 {
		id, mk := 0, float32(0)
		if pos == 0 {
			id, mk = 2, 1
		}
		if got, want := ev[pos*3], float32(1000*id+10*pos)+0.5*mk; got != want {
			t.Errorf("null emb[%d, 0] = %g, want %g", pos, got, want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	e, _ := NewEncoder(&positionModel{D: 3}, runeTokenizer{}, smallConfig(), Options{BatchSize: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := e.Encode(ctx, []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, _, err := e.Encode(context.Background(), nil); err == nil {
		t.Error("no prompts: no error")
	}
	wrong, _ := NewEncoder(&positionModel{D: 4}, runeTokenizer{}, smallConfig(), Options{})
	if _, _, err := wrong.Encode(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "caption_channels") {
		t.Errorf("hidden size 4 for caption_channels 3: %v", err)
	}
}

// testBackend is the shared test backend (internal/testbackend).
func testBackend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// TestEncodeWithGemma runs a tiny random Gemma-2 through the encoder and checks the result
// against the model's hidden states at the kept positions, and that rows of a batch do not
// interact (a prompt encoded alone or next to a longer one, with a filler row or not).
func TestEncodeWithGemma(t *testing.T) {
	gc := gemma.Config{
		VocabSize: 40, HiddenSize: 6, IntermediateSize: 8, NumLayers: 2, NumHeads: 2, NumKVHeads: 1, HeadDim: 4,
		HiddenActivation: gemma.GELUTanh, MaxPositionEmbeddings: 64, RMSNormEps: 1e-6, RopeTheta: 10000,
		QueryPreAttnScalar: 4, SlidingWindow: 4, LayerTypes: gemma.DefaultLayerTypes(2), AttnLogitSoftcapping: 50,
		BOSTokenID: 2,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	p := gemma.Params{}
	for _, s := range gemma.ParamSpecs(gc) {
		v := make([]float32, s.Size())
		for i := range v {
			v[i] = float32(rng.NormFloat64() / math.Sqrt(float64(s.Dims[len(s.Dims)-1])))
		}
		p[s.Name] = tensors.FromFlatDataAndDimensions(v, s.Dims...)
	}
	r, err := gemma.NewRunner(testBackend(t), gc, p, gemma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg := smallConfig()
	cfg.CaptionChannels = 6
	e, err := NewEncoder(r, runeTokenizer{}, cfg, Options{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	emb, _, err := e.Encode(context.Background(), []string{"xy", "abcdefgh"})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := e.Layout().Tokenize(runeTokenizer{}, []string{"xy", "abcdefgh"})
	hidden, err := r.Hidden(tensors.FromFlatDataAndDimensions(toks.IDs, 2, 9), tensors.FromFlatDataAndDimensions(toks.Mask, 2, 9))
	if err != nil {
		t.Fatal(err)
	}
	h := tensors.MustCopyFlatData[float32](hidden)
	ev := tensors.MustCopyFlatData[float32](emb)
	for b := range 2 {
		for l, pos := range e.Layout().Select {
			for d := range 6 {
				if got, want := ev[(b*5+l)*6+d], h[(b*9+pos)*6+d]; math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("emb[%d, %d, %d] = %g, hidden[%d, %d, %d] = %g", b, l, d, got, b, pos, d, want)
				}
			}
		}
	}
	alone, _, err := e.Encode(context.Background(), []string{"xy"})
	if err != nil {
		t.Fatal(err)
	}
	av := tensors.MustCopyFlatData[float32](alone)
	for i := range 4 * 6 { // the four real positions of "xy" (position 4 is padding)
		if math.Abs(float64(av[i]-ev[i])) > 1e-5 {
			t.Fatalf("prompt 0 alone differs at %d: %g vs %g in a batch", i, av[i], ev[i])
		}
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
