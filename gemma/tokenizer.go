package gemma

// Gemma's tokenizer is a SentencePiece BPE model (tokenizer.model) with: no normalisation
// ("identity", no dummy prefix, no whitespace folding) other than spaces written as "▁";
// user-defined pieces ("<start_of_turn>", runs of "▁", "\n"s, HTML tags) matched whole
// before merging; merges chosen by piece score; byte fallback (<0xNN> pieces) for characters
// outside the vocabulary. Hugging Face's GemmaTokenizer(Fast), which SANA calls, adds <bos> in
// front (add_bos_token, no <eos>) and matches its special tokens (<bos>, <eos>, <pad>, <unk>)
// where they are written literally in the text.
//
// go-huggingface's tokenizers/sentencepiece wraps github.com/eliben/go-sentencepiece, a pure-Go
// BPE encoder checked by its author against the Python sentencepiece package on Gemma's own
// tokenizer.model. Its wrapper needs a hub.Repo, reports VocabSize 0 and adds <bos> only when a
// tokenizer_config.json says so; the encoder underneath dereferences normalizer fields that
// proto2 may omit (a panic on such files), ignores a precompiled normalisation map, keeps
// UNUSED pieces instead of re-splitting them, and panics on out-of-range ids in Decode. So this
// file builds the encoder directly from the local file after checking the proto itself (with
// protowire: linking a second generated copy of the proto would clash in the registry), and
// adds <bos>, the special-token matching, the vocabulary size and checked decoding. These
// fixes belong in go-huggingface; they live here until they are upstream.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	sp "github.com/eliben/go-sentencepiece"
	"google.golang.org/protobuf/encoding/protowire"
)

// PieceType is a SentencePiece piece type (ModelProto.SentencePiece.Type).
type PieceType int32

// SentencePiece piece types.
const (
	PieceNormal      PieceType = 1
	PieceUnknown     PieceType = 2
	PieceControl     PieceType = 3
	PieceUserDefined PieceType = 4
	PieceUnused      PieceType = 5
	PieceByte        PieceType = 6
)

// Piece is one vocabulary entry.
type Piece struct {
	Text  string
	Score float32
	Type  PieceType
}

// spModel is the part of a SentencePiece ModelProto the tokenizer checks and uses.
type spModel struct {
	pieces                  []Piece
	modelType               int32 // TrainerSpec.model_type: 1 unigram (default), 2 BPE
	byteFallback            bool
	treatWhitespaceAsSuffix bool
	unkID, bosID, eosID     int32
	padID                   int32
	normName                string
	charsmap                []byte
	ruleTSV                 string
	addDummyPrefix          bool
	removeExtraWhitespaces  bool
	escapeWhitespaces       bool
	explicitDummyPrefix     bool // add_dummy_prefix written in the file (go-sentencepiece needs it)
	explicitRemoveExtraWS   bool // remove_extra_whitespaces written in the file
}

// parseModelProto decodes the fields of a serialized ModelProto that matter here, with proto2
// defaults for absent ones (model_type UNIGRAM, unk 0, bos 1, eos 2, pad −1, dummy prefix,
// whitespace removal and escaping on).
func parseModelProto(b []byte) (*spModel, error) {
	m := &spModel{modelType: 1, unkID: 0, bosID: 1, eosID: 2, padID: -1,
		addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true}
	err := forFields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType: // pieces
			p := Piece{Type: PieceNormal}
			err := forFields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					p.Text = string(v)
				case num == 2 && typ == protowire.Fixed32Type:
					p.Score = math.Float32frombits(uint32(x))
				case num == 3 && typ == protowire.VarintType:
					p.Type = PieceType(int32(x))
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case num == 2 && typ == protowire.BytesType: // trainer_spec
			return forFields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				if typ != protowire.VarintType {
					return nil
				}
				switch num {
				case 3:
					m.modelType = int32(x)
				case 24:
					m.treatWhitespaceAsSuffix = x != 0
				case 35:
					m.byteFallback = x != 0
				case 40:
					m.unkID = int32(x)
				case 41:
					m.bosID = int32(x)
				case 42:
					m.eosID = int32(x)
				case 43:
					m.padID = int32(x)
				}
				return nil
			})
		case num == 3 && typ == protowire.BytesType: // normalizer_spec
			return forFields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					m.normName = string(v)
				case num == 2 && typ == protowire.BytesType:
					m.charsmap = slices.Clone(v)
				case num == 3 && typ == protowire.VarintType:
					m.addDummyPrefix, m.explicitDummyPrefix = x != 0, true
				case num == 4 && typ == protowire.VarintType:
					m.removeExtraWhitespaces, m.explicitRemoveExtraWS = x != 0, true
				case num == 5 && typ == protowire.VarintType:
					m.escapeWhitespaces = x != 0
				case num == 6 && typ == protowire.BytesType:
					m.ruleTSV = string(v)
				}
				return nil
			})
		}
		return nil
	})
	return m, err
}

// forFields walks the fields of one protobuf message, passing length-delimited payloads as v
// and varint/fixed values as x.
func forFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("malformed protobuf field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// check lists what the encoder cannot reproduce exactly.
func (m *spModel) check() error {
	var errs []error
	if len(m.pieces) == 0 {
		errs = append(errs, errors.New("no pieces"))
	}
	if m.modelType != 2 {
		errs = append(errs, fmt.Errorf("model_type %d, only BPE (2) is supported (Gemma's tokenizer is BPE)", m.modelType))
	}
	if m.addDummyPrefix || !m.explicitDummyPrefix {
		errs = append(errs, errors.New("normalizer_spec.add_dummy_prefix is not false (Gemma's is false)"))
	}
	if m.removeExtraWhitespaces || !m.explicitRemoveExtraWS {
		errs = append(errs, errors.New("normalizer_spec.remove_extra_whitespaces is not false (Gemma's is false)"))
	}
	if !m.escapeWhitespaces {
		errs = append(errs, errors.New("normalizer_spec.escape_whitespaces is false (Gemma writes spaces as ▁)"))
	}
	if len(m.charsmap) > 0 || m.ruleTSV != "" || (m.normName != "" && m.normName != "identity") {
		errs = append(errs, fmt.Errorf("normalizer %q with a normalisation map is not supported (Gemma's is \"identity\")", m.normName))
	}
	if m.treatWhitespaceAsSuffix {
		errs = append(errs, errors.New("treat_whitespace_as_suffix is not supported"))
	}
	unknowns := 0
	for i, p := range m.pieces {
		switch p.Type {
		case PieceUnused:
			errs = append(errs, fmt.Errorf("piece %d %q is UNUSED: re-splitting unused pieces is not implemented", i, p.Text))
		case PieceUnknown:
			unknowns++
		case PieceNormal, PieceControl, PieceUserDefined, PieceByte:
		default:
			errs = append(errs, fmt.Errorf("piece %d %q has unknown type %d", i, p.Text, p.Type))
		}
		if p.Text == "" {
			errs = append(errs, fmt.Errorf("piece %d is empty", i))
		}
		if len(errs) > 10 {
			break
		}
	}
	if unknowns != 1 {
		errs = append(errs, fmt.Errorf("%d UNKNOWN pieces, want exactly one", unknowns))
	}
	return errors.Join(errs...)
}

// specialID finds a special token the way Hugging Face's GemmaTokenizer does, by its text
// (bos_token "<bos>", eos_token "<eos>", pad_token "<pad>", unk_token "<unk>"), falling back to
// the trainer_spec id when that names a control (or unknown) piece; −1 when neither exists.
func (m *spModel) specialID(text string, specID int32) int {
	for i, p := range m.pieces {
		if p.Text == text && (p.Type == PieceControl || p.Type == PieceUnknown || p.Type == PieceUserDefined) {
			return i
		}
	}
	if specID >= 0 && int(specID) < len(m.pieces) {
		if tp := m.pieces[specID].Type; tp == PieceControl || tp == PieceUnknown {
			return int(specID)
		}
	}
	return -1
}

// Tokenizer is Gemma's tokenizer as Hugging Face's GemmaTokenizer applies it (see the file
// comment). It is safe for concurrent use.
type Tokenizer struct {
	proc    *sp.Processor
	pieces  []Piece
	bos     int
	eos     int // −1: none
	pad     int // −1: none
	unk     int
	special []special // control/unknown pieces matched literally in the text, longest first
	first   [256]bool // first bytes of the special tokens
}

type special struct {
	text string
	id   int
}

// NewTokenizer builds the tokenizer from the bytes of a SentencePiece tokenizer.model.
func NewTokenizer(model []byte) (*Tokenizer, error) {
	m, err := parseModelProto(model)
	if err != nil {
		return nil, fmt.Errorf("tokenizer model: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("tokenizer model not supported: %w", err)
	}
	proc, err := newProcessor(model)
	if err != nil {
		return nil, fmt.Errorf("tokenizer model: %w", err)
	}
	t := &Tokenizer{proc: proc, pieces: m.pieces}
	t.bos, t.eos, t.pad, t.unk = m.specialID("<bos>", m.bosID), m.specialID("<eos>", m.eosID), m.specialID("<pad>", m.padID), m.specialID("<unk>", m.unkID)
	if t.bos < 0 {
		return nil, errors.New("tokenizer model: no <bos> piece (and trainer_spec.bos_id names no control piece)")
	}
	for id, p := range m.pieces {
		if p.Type == PieceControl || p.Type == PieceUnknown {
			t.special = append(t.special, special{p.Text, id})
			t.first[p.Text[0]] = true
		}
	}
	slices.SortStableFunc(t.special, func(a, b special) int { return len(b.text) - len(a.text) })
	return t, nil
}

// newProcessor runs go-sentencepiece's constructor, turning a panic into an error.
func newProcessor(model []byte) (proc *sp.Processor, err error) {
	defer func() {
		if r := recover(); r != nil {
			proc, err = nil, fmt.Errorf("sentencepiece: %v", r)
		}
	}()
	return sp.NewProcessor(bytes.NewReader(model))
}

// LoadTokenizer reads tokenizer.model from a model folder (or the file itself).
func LoadTokenizer(path string) (*Tokenizer, error) {
	file, err := findFile(path, "tokenizer.model")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("gemma tokenizer: %w", err)
	}
	t, err := NewTokenizer(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

// Encode returns the token ids of text without <bos>: SentencePiece's BPE on each stretch of
// text between literal special tokens ("<bos>", "<pad>", … as Hugging Face matches them),
// with those tokens' ids in between.
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	start := 0
	for i := 0; i < len(text); {
		s, ok := t.specialAt(text[i:])
		if !ok {
			i++
			continue
		}
		ids = t.appendPieces(ids, text[start:i])
		ids = append(ids, s.id)
		i += len(s.text)
		start = i
	}
	return t.appendPieces(ids, text[start:])
}

// EncodeWithBOS is Encode with <bos> in front: what Hugging Face's Gemma tokenizer returns for
// tokenizer(text) (add_special_tokens=True adds <bos>, never <eos>).
func (t *Tokenizer) EncodeWithBOS(text string) []int {
	return append([]int{t.bos}, t.Encode(text)...)
}

// specialAt returns the longest special token that text starts with.
func (t *Tokenizer) specialAt(text string) (special, bool) {
	if len(text) == 0 || !t.first[text[0]] {
		return special{}, false
	}
	for _, s := range t.special {
		if strings.HasPrefix(text, s.text) {
			return s, true
		}
	}
	return special{}, false
}

// appendPieces appends the BPE pieces of text (no special tokens in it).
func (t *Tokenizer) appendPieces(ids []int, text string) []int {
	if text == "" { // go-sentencepiece would return <unk> for "" without byte fallback
		return ids
	}
	for _, tok := range t.proc.Encode(text) {
		ids = append(ids, tok.ID)
	}
	return ids
}

// Decode returns the text of ids: pieces with "▁" written back as spaces, byte pieces joined
// into UTF-8 (invalid sequences become U+FFFD), control tokens dropped. An id outside the
// vocabulary is an error.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	for i, id := range ids {
		if id < 0 || id >= len(t.pieces) {
			return "", fmt.Errorf("token %d: id %d outside the vocabulary [0, %d)", i, id, len(t.pieces))
		}
	}
	return t.proc.Decode(ids), nil
}

// VocabSize is the number of pieces.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// BOS is the id of <bos>.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS is the id of <eos>, −1 if the model has none.
func (t *Tokenizer) EOS() int { return t.eos }

// Pad is the id of <pad>, −1 if the model has none.
func (t *Tokenizer) Pad() int { return t.pad }

// Unknown is the id of <unk>.
func (t *Tokenizer) Unknown() int { return t.unk }

// Piece returns vocabulary entry id.
func (t *Tokenizer) Piece(id int) (Piece, bool) {
	if id < 0 || id >= len(t.pieces) {
		return Piece{}, false
	}
	return t.pieces[id], true
}
