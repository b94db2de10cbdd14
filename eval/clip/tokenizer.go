package clip

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Special tokens and sizes of OpenAI CLIP's tokenizer (reference notes §2.2).
const (
	StartOfText   = "<|startoftext|>"
	EndOfText     = "<|endoftext|>"
	ContextLength = 77
	// numMerges is how many merges of bpe_simple_vocab_16e6.txt CLIP uses: lines [1, 49152−256−2+1).
	numMerges = 49152 - 256 - 2
)

// TokenizerHelp says where the tokenizer files come from.
const TokenizerHelp = `The CLIP tokenizer is read from local files: vocab.json and merges.txt (or tokenizer.json) of the ` +
	`Hugging Face repo openai/clip-vit-large-patch14 (the same files serve ViT-B/32), or OpenAI's ` +
	`bpe_simple_vocab_16e6.txt.gz from github.com/openai/CLIP (clip/ folder).`

// tokenPattern is CLIP's pre-tokeniser regex (case-insensitive).
var tokenPattern = regexp.MustCompile(`(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`)

// byteSymbols is GPT-2's bytes_to_unicode table, in vocabulary order: printable bytes map to
// themselves, the others to U+0100+n. byteOrder[i] is the byte whose symbol has index i.
var byteSymbols, byteOrder = func() ([256]string, [256]byte) {
	var sym [256]string
	var order [256]byte
	idx := 0
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	for b := 0; b < 256; b++ {
		if printable(b) {
			sym[b] = string(rune(b))
			order[idx] = byte(b)
			idx++
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			sym[b] = string(rune(256 + n))
			n++
			order[idx] = byte(b)
			idx++
		}
	}
	return sym, order
}()

// Tokenizer is CLIP's byte-level BPE tokenizer.
type Tokenizer struct {
	encoder  map[string]int
	ranks    map[[2]string]int
	sot, eot int

	mu    sync.Mutex
	cache map[string][]int
}

// NewTokenizer builds a tokenizer from a vocabulary (symbol → id, including the two special tokens)
// and the ordered merges.
func NewTokenizer(vocab map[string]int, merges [][2]string) (*Tokenizer, error) {
	t := &Tokenizer{encoder: vocab, ranks: make(map[[2]string]int, len(merges)), cache: map[string][]int{}}
	var ok bool
	if t.sot, ok = vocab[StartOfText]; !ok {
		return nil, fmt.Errorf("CLIP vocabulary lacks %s", StartOfText)
	}
	if t.eot, ok = vocab[EndOfText]; !ok {
		return nil, fmt.Errorf("CLIP vocabulary lacks %s", EndOfText)
	}
	for i, m := range merges {
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = i
		}
	}
	return t, nil
}

// OpenAIVocabulary builds the vocabulary the way OpenAI's SimpleTokenizer does: the 256 byte symbols,
// the same with "</w>", one entry per merge, then the two special tokens.
func OpenAIVocabulary(merges [][2]string) map[string]int {
	vocab := make(map[string]int, 512+len(merges)+2)
	for i, b := range byteOrder {
		vocab[byteSymbols[b]] = i
		vocab[byteSymbols[b]+"</w>"] = 256 + i
	}
	for i, m := range merges {
		vocab[m[0]+m[1]] = 512 + i
	}
	vocab[StartOfText] = 512 + len(merges)
	vocab[EndOfText] = 512 + len(merges) + 1
	return vocab
}

// LoadTokenizer reads the tokenizer from path: a folder holding vocab.json and merges.txt (or
// tokenizer.json, or bpe_simple_vocab_16e6.txt.gz), or one of those files.
func LoadTokenizer(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("CLIP tokenizer %q not found. %s", path, TokenizerHelp)
		}
		return nil, err
	}
	if st.IsDir() {
		vocab, merges := filepath.Join(path, "vocab.json"), filepath.Join(path, "merges.txt")
		if fileExists(vocab) && fileExists(merges) {
			return loadHFFiles(vocab, merges)
		}
		for _, name := range []string{"tokenizer.json", "bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt"} {
			if p := filepath.Join(path, name); fileExists(p) {
				return LoadTokenizer(p)
			}
		}
		return nil, fmt.Errorf("no CLIP tokenizer files in %s. %s", path, TokenizerHelp)
	}
	switch base := filepath.Base(path); {
	case base == "tokenizer.json":
		return loadTokenizerJSON(path)
	case base == "vocab.json":
		return loadHFFiles(path, filepath.Join(filepath.Dir(path), "merges.txt"))
	case base == "merges.txt":
		return loadHFFiles(filepath.Join(filepath.Dir(path), "vocab.json"), path)
	case strings.HasSuffix(base, ".gz") || strings.HasSuffix(base, ".txt"):
		return loadOpenAIBPE(path)
	}
	return nil, fmt.Errorf("unrecognised CLIP tokenizer file %s. %s", path, TokenizerHelp)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// parseMerges reads one merge per line. OpenAI's file has a header line that is always skipped;
// Hugging Face's merges.txt starts with "#version".
func parseMerges(r io.Reader, limit int, skipFirst bool) ([][2]string, error) {
	var merges [][2]string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			if skipFirst || strings.HasPrefix(line, "#version") {
				continue
			}
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 2 {
			return nil, fmt.Errorf("merge line %q has %d fields", line, len(parts))
		}
		merges = append(merges, [2]string{parts[0], parts[1]})
		if limit > 0 && len(merges) == limit {
			break
		}
	}
	return merges, sc.Err()
}

func loadOpenAIBPE(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	merges, err := parseMerges(r, numMerges, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewTokenizer(OpenAIVocabulary(merges), merges)
}

func loadHFFiles(vocabPath, mergesPath string) (*Tokenizer, error) {
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("CLIP tokenizer: %w. %s", err, TokenizerHelp)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, fmt.Errorf("%s: %w", vocabPath, err)
	}
	f, err := os.Open(mergesPath)
	if err != nil {
		return nil, fmt.Errorf("CLIP tokenizer: %w. %s", err, TokenizerHelp)
	}
	defer f.Close()
	merges, err := parseMerges(f, 0, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mergesPath, err)
	}
	return NewTokenizer(vocab, merges)
}

func loadTokenizerJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Model.Type != "" && doc.Model.Type != "BPE" {
		return nil, fmt.Errorf("%s: model type %s, want BPE", path, doc.Model.Type)
	}
	vocab := doc.Model.Vocab
	for _, a := range doc.AddedTokens {
		vocab[a.Content] = a.ID
	}
	merges := make([][2]string, 0, len(doc.Model.Merges))
	for _, raw := range doc.Model.Merges {
		var s string
		var pair []string
		if err := json.Unmarshal(raw, &s); err == nil {
			pair = strings.Fields(s)
		} else if err := json.Unmarshal(raw, &pair); err != nil {
			return nil, fmt.Errorf("%s: bad merge %s", path, raw)
		}
		if len(pair) != 2 {
			return nil, fmt.Errorf("%s: bad merge %s", path, raw)
		}
		merges = append(merges, [2]string{pair[0], pair[1]})
	}
	return NewTokenizer(vocab, merges)
}

// bpe splits one pre-token (already mapped to byte symbols) into vocabulary symbols.
func (t *Tokenizer) bpe(symbols []string) []string {
	word := append([]string(nil), symbols...)
	word[len(word)-1] += "</w>"
	for len(word) > 1 {
		best, bestRank := -1, int(^uint(0)>>1)
		for i := 0; i+1 < len(word); i++ {
			if r, ok := t.ranks[[2]string{word[i], word[i+1]}]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		first, second := word[best], word[best+1]
		merged := word[:0:0]
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == first && word[i+1] == second {
				merged = append(merged, first+second)
				i += 2
			} else {
				merged = append(merged, word[i])
				i++
			}
		}
		word = merged
	}
	return word
}

// Encode returns the BPE ids of text (cleaned), without start/end tokens.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	var ids []int
	for _, tok := range tokenPattern.FindAllString(Clean(text), -1) {
		switch tok {
		case StartOfText:
			ids = append(ids, t.sot)
			continue
		case EndOfText:
			ids = append(ids, t.eot)
			continue
		}
		t.mu.Lock()
		cached, ok := t.cache[tok]
		t.mu.Unlock()
		if ok {
			ids = append(ids, cached...)
			continue
		}
		bytesOf := []byte(tok)
		symbols := make([]string, len(bytesOf))
		for i, b := range bytesOf {
			symbols[i] = byteSymbols[b]
		}
		var out []int
		for _, s := range t.bpe(symbols) {
			id, ok := t.encoder[s]
			if !ok {
				return nil, fmt.Errorf("CLIP tokenizer: symbol %q of %q is not in the vocabulary", s, tok)
			}
			out = append(out, id)
		}
		t.mu.Lock()
		if len(t.cache) < 1<<16 {
			t.cache[tok] = out
		}
		t.mu.Unlock()
		ids = append(ids, out...)
	}
	return ids, nil
}

// Tokenize is clip.tokenize for one text: [SOT] + ids + [EOT], zero-padded to contextLength. Longer
// sequences are an error unless truncate is set, which keeps the first contextLength ids and makes
// the last one EOT.
func (t *Tokenizer) Tokenize(text string, contextLength int, truncate bool) ([]int32, error) {
	ids, err := t.Encode(text)
	if err != nil {
		return nil, err
	}
	seq := make([]int, 0, len(ids)+2)
	seq = append(seq, t.sot)
	seq = append(seq, ids...)
	seq = append(seq, t.eot)
	if len(seq) > contextLength {
		if !truncate {
			return nil, fmt.Errorf("text of %d tokens is longer than the context length %d", len(seq), contextLength)
		}
		seq = seq[:contextLength]
		seq[contextLength-1] = t.eot
	}
	out := make([]int32, contextLength)
	for i, id := range seq {
		out[i] = int32(id)
	}
	return out, nil
}

// EndOfTextID is the id of <|endoftext|>.
func (t *Tokenizer) EndOfTextID() int { return t.eot }

// StartOfTextID is the id of <|startoftext|>.
func (t *Tokenizer) StartOfTextID() int { return t.sot }
