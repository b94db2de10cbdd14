package gemma

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sprint-distill/sprint/internal/testfile"
)

// spSpec describes a SentencePiece model to serialise by hand (ModelProto field numbers from
// sentencepiece_model.proto: pieces 1 {piece 1, score 2, type 3}, trainer_spec 2 {model_type 3,
// byte_fallback 35, unk/bos/eos/pad_id 40–43}, normalizer_spec 3 {name 1, precompiled_charsmap 2,
// add_dummy_prefix 3, remove_extra_whitespaces 4, escape_whitespaces 5}).
type spSpec struct {
	pieces           []Piece
	modelType        int
	byteFallback     bool
	unk, bos, eos    int
	pad              int
	omitNormalizer   bool // leave add_dummy_prefix / remove_extra_whitespaces out (proto2 default: true)
	charsmap         []byte
	addDummyPrefix   bool
	normalizerName   string
	escapeWhitespace bool
}

func (s spSpec) bytes() []byte {
	var b []byte
	for _, p := range s.pieces {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, p.Text)
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(p.Score))
		m = protowire.AppendTag(m, 3, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(p.Type))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	var ts []byte
	varint := func(dst []byte, num protowire.Number, v int) []byte {
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(int64(v)))
	}
	ts = varint(ts, 3, s.modelType)
	if s.byteFallback {
		ts = varint(ts, 35, 1)
	}
	ts = varint(ts, 40, s.unk)
	ts = varint(ts, 41, s.bos)
	ts = varint(ts, 42, s.eos)
	ts = varint(ts, 43, s.pad)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	var ns []byte
	ns = protowire.AppendTag(ns, 1, protowire.BytesType)
	ns = protowire.AppendString(ns, s.normalizerName)
	if len(s.charsmap) > 0 {
		ns = protowire.AppendTag(ns, 2, protowire.BytesType)
		ns = protowire.AppendBytes(ns, s.charsmap)
	}
	if !s.omitNormalizer {
		ns = varint(ns, 3, map[bool]int{true: 1}[s.addDummyPrefix])
		ns = varint(ns, 4, 0)
	}
	ns = varint(ns, 5, map[bool]int{true: 1}[s.escapeWhitespace])
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, ns)
}

// Tiny vocabulary, laid out like Gemma's: <pad> 0, <eos> 1, <bos> 2, <unk> 3, user-defined
// pieces, the 256 byte pieces, then characters and merges (a higher score merges first).
const (
	idPad, idEOS, idBOS, idUnk, idMask, idSpaces = 0, 1, 2, 3, 4, 5
	idByte0                                      = 6 // <0x00>; <0xNN> is idByte0+NN
)

var tinyMerges = []string{"he", "ll", "hell", "hello", "▁w", "or", "▁wor", "ld", "▁world"}
var tinyChars = []string{"▁", "h", "e", "l", "o", "w", "r", "d", "a", "b", "\n", "."}

func tinySpec() spSpec {
	pieces := []Piece{
		{"<pad>", 0, PieceControl}, {"<eos>", 0, PieceControl}, {"<bos>", 0, PieceControl},
		{"<unk>", 0, PieceUnknown}, {"<mask>", 0, PieceUserDefined}, {"▁▁", 0, PieceUserDefined},
	}
	for v := range 256 {
		pieces = append(pieces, Piece{fmt.Sprintf("<0x%02X>", v), 0, PieceByte})
	}
	for _, c := range tinyChars {
		pieces = append(pieces, Piece{c, -100, PieceNormal})
	}
	for i, m := range tinyMerges {
		pieces = append(pieces, Piece{m, float32(-1 - i), PieceNormal})
	}
	return spSpec{pieces: pieces, modelType: 2, byteFallback: true, unk: idUnk, bos: idBOS, eos: idEOS,
		pad: idPad, normalizerName: "identity", escapeWhitespace: true}
}

func tinyTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := NewTokenizer(tinySpec().bytes())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// writeTinyTokenizer writes the tiny vocabulary as dir/tokenizer.model.
func writeTinyTokenizer(t testing.TB, dir string) {
	t.Helper()
	testfile.Write(t, dir, "tokenizer.model", string(tinySpec().bytes()))
}

// id returns the id of a piece of the tiny vocabulary.
func id(t testing.TB, tok *Tokenizer, piece string) int {
	t.Helper()
	for i := range tok.VocabSize() {
		if p, _ := tok.Piece(i); p.Text == piece {
			return i
		}
	}
	t.Fatalf("no piece %q", piece)
	return -1
}

// TestTokenizerEncode checks SentencePiece BPE as Gemma uses it, on hand-derived cases:
// spaces become ▁ with no dummy prefix; merges go by score, ties to the leftmost pair;
// user-defined pieces match whole and never merge; characters outside the vocabulary fall back
// to their UTF-8 bytes; <bos>/<pad> written in the text are their tokens (Hugging Face's
// special-token matching).
func TestTokenizerEncode(t *testing.T) {
	tok := tinyTokenizer(t)
	p := func(s string) int { return id(t, tok, s) }
	byteID := func(b byte) int { return idByte0 + int(b) }
	for _, tc := range []struct {
		text string
		want []int
	}{
		// he(−1), ll(−2), hell(−3), hello(−4); ▁w(−5), or(−6), ▁wor(−7), ld(−8), ▁world(−9)
		{"hello world", []int{p("hello"), p("▁world")}},
		// no dummy prefix: a leading word has no ▁
		{"world", []int{p("w"), p("or"), p("ld")}},
		{" world", []int{p("▁world")}},
		// "▁▁" is user-defined: matched whole, so "▁w" cannot form across it
		{"hello  world", []int{p("hello"), idSpaces, p("w"), p("or"), p("ld")}},
		// equal-score pairs: the leftmost merges first
		{"lll", []int{p("ll"), p("l")}},
		// byte fallback: é = C3 A9, i = 69 are not pieces
		{"hé", []int{p("h"), byteID(0xC3), byteID(0xA9)}},
		{"hi", []int{p("h"), byteID('i')}},
		// user-defined <mask> in the middle of text
		{"a<mask>b", []int{p("a"), idMask, p("b")}},
		// control tokens written literally: Hugging Face matches them; "<pa" is plain bytes
		{"<bos>he<pad>", []int{idBOS, p("he"), idPad}},
		{"<pa", []int{byteID('<'), byteID('p'), p("a")}},
		{"a\nb.", []int{p("a"), p("\n"), p("b"), p(".")}},
		{"", nil},
	} {
		got := tok.Encode(tc.text)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	// Special ids come from the pieces' texts, as Hugging Face finds them, not trainer_spec.
	spec := tinySpec()
	spec.bos, spec.pad = 1, -1
	if tk, err := NewTokenizer(spec.bytes()); err != nil || tk.BOS() != idBOS || tk.Pad() != idPad {
		t.Errorf("ids by piece text: %v, bos %d, pad %d", err, tk.BOS(), tk.Pad())
	}
	if got := tok.EncodeWithBOS(""); !slices.Equal(got, []int{idBOS}) {
		t.Errorf(`EncodeWithBOS("") = %v, want [<bos>]`, got)
	}
	if got := tok.EncodeWithBOS("hello"); !slices.Equal(got, []int{idBOS, p("hello")}) {
		t.Errorf(`EncodeWithBOS("hello") = %v`, got)
	}
	if tok.VocabSize() != 6+256+len(tinyChars)+len(tinyMerges) || tok.BOS() != idBOS || tok.Pad() != idPad || tok.EOS() != idEOS || tok.Unknown() != idUnk {
		t.Errorf("vocab %d, bos %d, pad %d, eos %d, unk %d", tok.VocabSize(), tok.BOS(), tok.Pad(), tok.EOS(), tok.Unknown())
	}
}

func TestTokenizerDecode(t *testing.T) {
	tok := tinyTokenizer(t)
	for _, text := range []string{"hello world", "hello  world", "hé ☃ world\n", "a<mask>b", "lll. "} {
		ids := tok.EncodeWithBOS(text)
		got, err := tok.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if got != text {
			t.Errorf("Decode(Encode(%q)) = %q", text, got)
		}
	}
	// A lone continuation byte is invalid UTF-8: SentencePiece writes U+FFFD.
	if got, _ := tok.Decode([]int{idByte0 + 0xA9}); got != "\uFFFD" {
		t.Errorf("Decode(<0xA9>) = %q, want U+FFFD", got)
	}
	if _, err := tok.Decode([]int{1, tok.VocabSize()}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Errorf("out-of-range id: err = %v", err)
	}
}

// TestTokenizerRejects: what go-sentencepiece would mis-tokenise (or panic on) is an error.
func TestTokenizerRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*spSpec)
		want   string
	}{
		{"normalizer fields left at proto2 defaults (go-sentencepiece panics)", func(s *spSpec) { s.omitNormalizer = true }, "add_dummy_prefix"},
		{"dummy prefix", func(s *spSpec) { s.addDummyPrefix = true }, "add_dummy_prefix"},
		{"unigram", func(s *spSpec) { s.modelType = 1 }, "only BPE"},
		{"nfkc map", func(s *spSpec) { s.normalizerName, s.charsmap = "nmt_nfkc", []byte{1, 2, 3} }, "normalizer"},
		{"unused piece", func(s *spSpec) { s.pieces[len(s.pieces)-1].Type = PieceUnused }, "UNUSED"},
		{"no <bos>", func(s *spSpec) { s.pieces[idBOS].Text, s.bos = "<s>", 300 }, "no <bos>"},
		{"byte fallback without all bytes", func(s *spSpec) { s.pieces[idByte0+7].Type = PieceNormal }, "0x07"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tinySpec()
			tc.modify(&s)
			_, err := NewTokenizer(s.bytes())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := NewTokenizer([]byte{0x0a, 0xff, 0xff}); err == nil {
		t.Error("malformed proto: no error")
	}
	dir := t.TempDir()
	if _, err := LoadTokenizer(dir); err == nil || !containsAll(err.Error(), "no tokenizer.model", "google/gemma-2-2b-it") {
		t.Errorf("missing tokenizer.model: %v", err)
	}
	writeTinyTokenizer(t, dir)
	if tok, err := LoadTokenizer(dir); err != nil || tok.VocabSize() != len(tinySpec().pieces) {
		t.Errorf("LoadTokenizer: %v", err)
	}
}
