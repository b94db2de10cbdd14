package data

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Special tokens of the shapes text encoder.
const (
	TokenUnknown = "<unk>"
	TokenEnd     = "<end>"
)

// Vocabulary is the fixed vocabulary of the shapes text encoder; a token's id is its index here.
// It holds every word of the captions Caption produces plus a few a user may type ("one", "right",
// "below", ...).
var Vocabulary = []string{
	TokenUnknown, TokenEnd, ",",
	"a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
	"red", "green", "blue", "yellow",
	"circle", "circles", "square", "squares", "triangle", "triangles",
	"left", "right", "of", "above", "below", "and", "the", "next", "to",
}

// Text encodings of the shapes text encoder (data.shapes.text_encoding).
const (
	// TextEncodingPositional embeds token i of id t as tok[t] + pos[i]/2.
	TextEncodingPositional = "positional"
	// TextEncodingPhrases embeds it as tok[t] + phrase[k] + pos[i]/2, where k numbers the object
	// phrase the token belongs to (see PhraseIndices).
	TextEncodingPhrases = "phrases"
	// TextEncodingRoles embeds it as tok[t] + phrase[k] + side[s] + pos[i]/2, where s is the side
	// of the image the relation puts the token's object on (see SideIndices; side[none] = 0).
	TextEncodingRoles = "roles"
)

// TextEncodings lists the accepted text encodings.
var TextEncodings = []string{TextEncodingPositional, TextEncodingPhrases, TextEncodingRoles}

// Sides of an object phrase (SideIndices): where the caption's relation puts its object.
const (
	SideNone = iota
	SideLeft
	SideRight
	SideUpper
	SideLower
	numSides
)

// relationSides are the sides "A <word> B" gives A and B.
var relationSides = map[string][2]int{
	"left":  {SideLeft, SideRight},
	"right": {SideRight, SideLeft},
	"above": {SideUpper, SideLower},
	"below": {SideLower, SideUpper},
}

// phraseSeparators start a new object phrase: the relation words and the list separators of the
// captions' grammar ("... left of ...", "... above ...", "..., ... and ...").
var phraseSeparators = map[string]bool{"left": true, "right": true, "above": true, "below": true, "next": true, "and": true, ",": true}

// TextEncoder is the shapes dataset's fixed text encoder: no learned weights, only deterministic random
// vectors, so that no external model is needed.
//
// A prompt is lower-cased and split into tokens: maximal runs of letters and digits, and each comma; other
// characters separate tokens. Words outside Vocabulary become <unk>. At most MaxTokens-1 words are kept
// and an <end> token is appended, so every prompt, the null caption "" included, has at least one token
// ("" is the single token <end>, like a T5 encoder's "</s>").
//
// Token i of a prompt with id t is embedded as tok[t] + pos[i]/2, where tok[t] and pos[i] are vectors of
// Dim independent standard normal values drawn from Seed (SplitMix64 and Box-Muller); padding positions
// are zero vectors. The mask is 1 for tokens and 0 for padding. The position term makes word order
// visible to a model without positional encodings on the text side.
//
// With the "phrases" encoding (NewTextEncoding) every token also gets phrase[k], a third family of
// vectors: k is the number of the object phrase the token belongs to. Under the positional
// encoding alone the words of the second object sit at positions that depend on the relation
// ("left of" is two words, "above" one), so a network has to learn, for every word and position,
// which object a word describes; the phrase vector says it directly, and the same for every
// caption, which makes colour-to-shape binding and relations learnable from fewer examples.
type TextEncoder struct {
	Dim, MaxTokens int
	Seed           uint64
	// Encoding is TextEncodingPositional or TextEncodingPhrases.
	Encoding            string
	ids                 map[string]int
	tok, pos, phr, side [][]float32
}

// NewTextEncoder returns the positional encoder with embedding dimension dim, maxTokens positions and
// the given seed.
func NewTextEncoder(dim, maxTokens int, seed uint64) (*TextEncoder, error) {
	return NewTextEncoding(dim, maxTokens, seed, TextEncodingPositional)
}

// NewTextEncoding returns the encoder with the given encoding (TextEncodings), embedding dimension
// dim, maxTokens positions and seed. The token and position vectors do not depend on the encoding.
func NewTextEncoding(dim, maxTokens int, seed uint64, encoding string) (*TextEncoder, error) {
	if dim <= 0 || maxTokens <= 0 {
		return nil, fmt.Errorf("text encoder: dim %d and max tokens %d must be > 0", dim, maxTokens)
	}
	if !slices.Contains(TextEncodings, encoding) {
		return nil, fmt.Errorf("text encoder: unknown encoding %q (want one of %s)", encoding, strings.Join(TextEncodings, ", "))
	}
	e := &TextEncoder{Dim: dim, MaxTokens: maxTokens, Seed: seed, Encoding: encoding, ids: map[string]int{}}
	for i, w := range Vocabulary {
		e.ids[w] = i
	}
	normals := func(stream uint64, n int) []float32 {
		rng := newEpochRNG(seed, int(stream))
		out := make([]float32, n)
		for i := 0; i < n; i += 2 {
			u1 := (float64(rng.next()>>11) + 1) / (1 << 53) // (0, 1]
			u2 := float64(rng.next()>>11) / (1 << 53)       // [0, 1)
			r := math.Sqrt(-2 * math.Log(u1))
			out[i] = float32(r * math.Cos(2*math.Pi*u2))
			if i+1 < n {
				out[i+1] = float32(r * math.Sin(2*math.Pi*u2))
			}
		}
		return out
	}
	for t := range Vocabulary {
		e.tok = append(e.tok, normals(uint64(t), dim))
	}
	for p := 0; p < maxTokens; p++ {
		v := normals(1<<20+uint64(p), dim)
		for i := range v {
			v[i] /= 2
		}
		e.pos = append(e.pos, v)
		if encoding == TextEncodingPhrases || encoding == TextEncodingRoles {
			e.phr = append(e.phr, normals(1<<21+uint64(p), dim))
		}
	}
	if encoding == TextEncodingRoles {
		e.side = append(e.side, make([]float32, dim)) // SideNone adds nothing
		for s := SideNone + 1; s < numSides; s++ {
			e.side = append(e.side, normals(1<<22+uint64(s), dim))
		}
	}
	return e, nil
}

// SideIndices returns, for every token of ids (Tokenize's output), the side of the image its
// object phrase (PhraseIndices) is put on by the caption's first relation word: in "A left of
// B" the words of A are SideLeft and those of B SideRight ("right", "above" and "below"
// likewise); every other token, and every token of a caption without such a word, is SideNone.
func (e *TextEncoder) SideIndices(ids []int) []int {
	out := make([]int, len(ids))
	phrases := e.PhraseIndices(ids)
	for i, id := range ids {
		if id < 0 || id >= len(Vocabulary) {
			continue
		}
		sides, ok := relationSides[Vocabulary[id]]
		if !ok {
			continue
		}
		k := phrases[i] // the phrase this word opens: B; A is the one before
		for j := range ids {
			switch phrases[j] {
			case k - 1:
				out[j] = sides[0]
			case k:
				out[j] = sides[1]
			}
		}
		break
	}
	return out
}

// PhraseIndices returns, for every token of ids (Tokenize's output), the number of its object
// phrase: 0 for the first, and one more at every phrase separator (a relation word: left, right,
// above, below, next; a list separator: "," or "and"), which opens the next phrase. The <end>
// token stays in the last phrase.
func (e *TextEncoder) PhraseIndices(ids []int) []int {
	out := make([]int, len(ids))
	k := 0
	for i, id := range ids {
		if id >= 0 && id < len(Vocabulary) && phraseSeparators[Vocabulary[id]] {
			k++
		}
		out[i] = min(k, e.MaxTokens-1)
	}
	return out
}

// Tokenize returns the token ids of a prompt, <end> included (see TextEncoder).
func (e *TextEncoder) Tokenize(prompt string) []int {
	var ids []int
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			id, ok := e.ids[word.String()]
			if !ok {
				id = e.ids[TokenUnknown]
			}
			ids = append(ids, id)
			word.Reset()
		}
	}
	for _, r := range strings.ToLower(prompt) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word.WriteRune(r)
		case r == ',':
			flush()
			ids = append(ids, e.ids[","])
		default:
			flush()
		}
	}
	flush()
	if len(ids) > e.MaxTokens-1 {
		ids = ids[:e.MaxTokens-1]
	}
	return append(ids, e.ids[TokenEnd])
}

// EncodeFlat embeds one prompt: emb is (MaxTokens, Dim) row-major, mask has MaxTokens entries.
func (e *TextEncoder) EncodeFlat(prompt string) (emb, mask []float32) {
	emb = make([]float32, e.MaxTokens*e.Dim)
	mask = make([]float32, e.MaxTokens)
	ids := e.Tokenize(prompt)
	var phrases, sides []int
	if e.Encoding == TextEncodingPhrases || e.Encoding == TextEncodingRoles {
		phrases = e.PhraseIndices(ids)
	}
	if e.Encoding == TextEncodingRoles {
		sides = e.SideIndices(ids)
	}
	for i, id := range ids {
		row := emb[i*e.Dim : (i+1)*e.Dim]
		for k := range row {
			row[k] = e.tok[id][k] + e.pos[i][k]
		}
		if phrases != nil {
			for k, v := range e.phr[phrases[i]] {
				row[k] += v
			}
		}
		if sides != nil {
			for k, v := range e.side[sides[i]] {
				row[k] += v
			}
		}
		mask[i] = 1
	}
	return emb, mask
}

// EncodeText embeds prompts: emb is a (N, MaxTokens, Dim) float32 tensor, mask a (N, MaxTokens) float32
// tensor of 1 (token) and 0 (padding).
func (e *TextEncoder) EncodeText(prompts []string) (emb, mask *tensors.Tensor) {
	n, l, d := len(prompts), e.MaxTokens, e.Dim
	emb = tensors.FromShape(shapes.Make(dtypes.Float32, n, l, d))
	mask = tensors.FromShape(shapes.Make(dtypes.Float32, n, l))
	tensors.MustMutableFlatData(emb, func(ef []float32) {
		tensors.MustMutableFlatData(mask, func(mf []float32) {
			for i, p := range prompts {
				pe, pm := e.EncodeFlat(p)
				copy(ef[i*l*d:], pe)
				copy(mf[i*l:], pm)
			}
		})
	})
	return emb, mask
}

// EncodeText embeds prompts with the text encoder of DefaultShapesConfig (32 dimensions, 16 tokens):
// emb is (N, 16, 32) and mask (N, 16), both float32. Use ShapesConfig.TextEncoder for other settings.
func EncodeText(prompts []string) (emb, mask *tensors.Tensor) {
	e, err := DefaultShapesConfig().TextEncoder()
	if err != nil {
		panic(err) // the default configuration is valid; a failure here is a bug in this package
	}
	return e.EncodeText(prompts)
}
