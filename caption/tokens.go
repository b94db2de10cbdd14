package caption

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Tokenizer is what caption needs from the text encoder's tokenizer (gemma.Tokenizer).
type Tokenizer interface {
	// EncodeWithBOS returns the ids of text with <bos> in front, as Hugging Face's
	// tokenizer(text) does with add_special_tokens.
	EncodeWithBOS(text string) []int
	// Pad is the padding token's id (−1: none).
	Pad() int
}

// Layout is how one configuration lays prompts out for the text encoder.
type Layout struct {
	Instruction       string // prepended to every prompt
	InstructionTokens int    // n_chi: tokens of the instruction alone, <bos> included (0 without one)
	Length            int    // T, the padded length the encoder sees: n_chi + L − 2, or L without instruction
	Select            []int  // the L positions kept: 0, then T−L+1 … T−1
}

// NewLayout computes the layout of cfg with tokenizer tok (reference: max_length_all and
// select_index in train_scm_ladd.py).
func NewLayout(tok Tokenizer, cfg Config) (Layout, error) {
	if err := cfg.Validate(); err != nil {
		return Layout{}, err
	}
	L := cfg.ModelMaxLength
	lay := Layout{Length: L}
	if len(cfg.ChiPrompt) > 0 { // the reference tests the list itself: [""] is an instruction too
		lay.Instruction = cfg.Instruction()
		lay.InstructionTokens = len(tok.EncodeWithBOS(lay.Instruction))
		lay.Length = lay.InstructionTokens + L - 2 // max_length_all
	}
	sel, err := selectIndex(lay.Length, L)
	if err != nil {
		return Layout{}, err
	}
	lay.Select = sel
	return lay, nil
}

// selectIndex is the reference's [0] + list(range(−L+1, 0)) resolved against length T as
// Python indexes: negative i means T+i; below −T is an error.
func selectIndex(T, L int) ([]int, error) {
	sel := make([]int, 0, L)
	sel = append(sel, 0)
	for i := -L + 1; i < 0; i++ {
		if T+i < 0 {
			return nil, fmt.Errorf("caption: select index %d out of range for length %d", i, T)
		}
		sel = append(sel, T+i)
	}
	return sel, nil
}

// Tokens is a batch of token rows ready for the encoder.
type Tokens struct {
	N, T int
	IDs  []int32   // (N, T) row-major
	Mask []float32 // (N, T): 1 for tokens, 0 for padding
}

// Tokenize lays prompts out as the reference does: each text = instruction + prompt,
// tokenized with <bos>, truncated on the right to T tokens and right-padded with <pad> to T.
// A prompt that is not valid UTF-8 is an error naming it.
func (lay Layout) Tokenize(tok Tokenizer, prompts []string) (*Tokens, error) {
	pad := tok.Pad()
	if pad < 0 {
		return nil, errors.New("caption: the tokenizer has no <pad> token")
	}
	T := lay.Length
	out := &Tokens{N: len(prompts), T: T, IDs: make([]int32, len(prompts)*T), Mask: make([]float32, len(prompts)*T)}
	for i, p := range prompts {
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("caption: prompt %d is not valid UTF-8: %q", i, p)
		}
		ids := tok.EncodeWithBOS(lay.Instruction + p)
		ids = ids[:min(len(ids), T)] // truncation=True, right side
		row, mrow := out.IDs[i*T:(i+1)*T], out.Mask[i*T:(i+1)*T]
		for j := range T {
			if j < len(ids) {
				row[j], mrow[j] = int32(ids[j]), 1
			} else {
				row[j] = int32(pad)
			}
		}
	}
	return out, nil
}

// NullLayout is the null caption's layout: no instruction, length L, every position kept
// (reference: tokenizer("", max_length=L, padding="max_length")).
func NullLayout(cfg Config) (Layout, error) {
	if err := cfg.Validate(); err != nil {
		return Layout{}, err
	}
	sel, _ := selectIndex(cfg.ModelMaxLength, cfg.ModelMaxLength)
	return Layout{Length: cfg.ModelMaxLength, Select: sel}, nil
}
