package clip

import (
	"regexp"
	"strings"
	"unicode/utf8"

	xcharmap "golang.org/x/text/encoding/charmap"
)

// ftfy's fix_encoding (ftfy 6.3.1, ftfy/__init__.py fix_encoding_and_explain and
// _fix_encoding_one_step_and_explain, with the default TextFixerConfig): text that looks like
// mojibake (isBad) is re-encoded with the first single-byte codec that can encode all of it and
// decoded again as UTF-8; failing that, runs of UTF-8 mojibake are fixed in place, C1 controls are
// read as Windows-1252. Steps repeat until the text no longer changes.

//go:generate python3 testdata/gen_tables.py

// charmap is one of the single-byte codecs fix_encoding tries, as Python (with ftfy's "sloppy"
// variants) encodes and decodes it.
type charmap struct {
	name   string
	sloppy bool // a sloppy-windows-* codec: undefined bytes stand for the same code point, 0x1A for U+FFFD
	decode [256]rune
	encode map[rune]byte
}

// highByte decodes a byte 0x80-0xFF as Python's codec does, from golang.org/x/text's tables
// (which agree with Python's codecs on every byte of these code pages, checked by a test, but
// for ISO-8859-2's C1 controls 0x80-0x9F, which Python maps to themselves); -1 where the codec
// leaves the byte undefined. A nil table is Latin-1.
func highByte(table *xcharmap.Charmap, b byte) rune {
	if table == nil || (table == xcharmap.ISO8859_2 && b < 0xa0) {
		return rune(b)
	}
	if r := table.DecodeByte(b); r != utf8.RuneError {
		return r
	}
	return -1
}

func newCharmap(name string, table *xcharmap.Charmap, sloppy bool) *charmap {
	c := &charmap{name: name, sloppy: sloppy, encode: make(map[rune]byte, 256)}
	for b := 0; b < 256; b++ {
		r := rune(b)
		if b >= 0x80 {
			r = highByte(table, byte(b))
		}
		if sloppy && r < 0 {
			r = rune(b)
		}
		if sloppy && b == 0x1a {
			r = 0xfffd
		}
		c.decode[b] = r
		if r >= 0 {
			if _, dup := c.encode[r]; !dup {
				c.encode[r] = byte(b)
			}
		}
	}
	return c
}

// charmapEncodings are ftfy's CHARMAP_ENCODINGS, in the order fix_encoding tries them.
var charmapEncodings = []*charmap{
	newCharmap("latin-1", nil, false),
	newCharmap("sloppy-windows-1252", xcharmap.Windows1252, true),
	newCharmap("sloppy-windows-1251", xcharmap.Windows1251, true),
	newCharmap("sloppy-windows-1250", xcharmap.Windows1250, true),
	newCharmap("sloppy-windows-1253", xcharmap.Windows1253, true),
	newCharmap("sloppy-windows-1254", xcharmap.Windows1254, true),
	newCharmap("sloppy-windows-1257", xcharmap.Windows1257, true),
	newCharmap("iso-8859-2", xcharmap.ISO8859_2, false),
	newCharmap("macroman", xcharmap.Macintosh, false),
	newCharmap("cp437", xcharmap.CodePage437, false),
}

var sloppyWindows1252 = charmapEncodings[1]

// canEncode is ftfy's possible_encoding: whether every character of text has a byte in c.
func (c *charmap) canEncode(text string) bool {
	for _, r := range text {
		if _, ok := c.encode[r]; !ok {
			return false
		}
	}
	return true
}

// encodeString encodes text, which canEncode accepted.
func (c *charmap) encodeString(text string) []byte {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		out = append(out, c.encode[r])
	}
	return out
}

// Byte-level patterns run on "byte strings": each byte b stored as the rune U+00bb, so that Go's
// regexp (which reads UTF-8) can match raw bytes.
func bytesAsRunes(b []byte) string {
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

func runesAsBytes(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		out = append(out, byte(r))
	}
	return out
}

// alteredUTF8RE is ftfy's ALTERED_UTF8_RE: UTF-8 sequences that would be valid if a space were the
// byte 0xA0 it probably was.
var alteredUTF8RE = regexp.MustCompile(`[\x{c2}\x{c3}\x{c5}\x{ce}\x{d0}\x{d9}] ` +
	`|[\x{e2}\x{e3}] [\x{80}-\x{84}\x{86}-\x{9f}\x{a1}-\x{bf}]` +
	`|[\x{e0}-\x{e3}][\x{80}-\x{84}\x{86}-\x{9f}\x{a1}-\x{bf}] ` +
	`|\x{f0} [\x{80}-\x{bf}][\x{80}-\x{bf}]` +
	`|\x{f0}[\x{80}-\x{bf}] [\x{80}-\x{bf}]` +
	`|\x{f0}[\x{80}-\x{bf}][\x{80}-\x{bf}] `)

// aGraveWordSkip are the continuations after "\xc3 " that ftfy's A_GRAVE_WORD_RE refuses (a second
// space, and the Portuguese contractions "àquele", "àquela", "àquilo", "às").
var aGraveWordSkip = []string{" ", "quele", "quela", "quilo", "s "}

// restoreByteA0 is ftfy's restore_byte_a0 on bytes: "\xc3 " standing alone (à as a word) gets its
// 0xA0 back while keeping the space, then every space inside an altered UTF-8 sequence becomes 0xA0.
func restoreByteA0(b []byte) []byte {
	var fixed []byte
	for i := 0; i < len(b); i++ {
		if b[i] == 0xc3 && i+1 < len(b) && b[i+1] == ' ' {
			rest, skip := string(b[i+2:]), false
			for _, s := range aGraveWordSkip {
				skip = skip || strings.HasPrefix(rest, s)
			}
			if !skip {
				fixed = append(fixed, 0xc3, 0xa0, ' ')
				i++
				continue
			}
		}
		fixed = append(fixed, b[i])
	}
	s := alteredUTF8RE.ReplaceAllStringFunc(bytesAsRunes(fixed), func(m string) string {
		return strings.ReplaceAll(m, " ", "\u00a0")
	})
	return runesAsBytes(s)
}

// lossyUTF8RE is ftfy's LOSSY_UTF8_RE: UTF-8 (or CESU-8) sequences some of whose bytes were lost to
// U+FFFD (encoded by the sloppy codecs as 0x1A) or, once per sequence, to '?'; and a lone 0x1A.
var lossyUTF8RE = regexp.MustCompile(`[\x{c2}-\x{df}]\x{1a}` +
	`|[\x{c2}\x{c3}]\?` +
	`|\x{ed}[\x{a0}-\x{af}][\x{1a}?]\x{ed}[\x{b0}-\x{bf}][\x{1a}?\x{80}-\x{bf}]` +
	`|\x{ed}[\x{a0}-\x{af}][\x{1a}?\x{80}-\x{bf}]\x{ed}[\x{b0}-\x{bf}][\x{1a}?]` +
	`|[\x{e0}-\x{ef}][\x{1a}?][\x{1a}\x{80}-\x{bf}]` +
	`|[\x{e0}-\x{ef}][\x{1a}\x{80}-\x{bf}][\x{1a}?]` +
	`|[\x{f0}-\x{f4}][\x{1a}?][\x{1a}\x{80}-\x{bf}][\x{1a}\x{80}-\x{bf}]` +
	`|[\x{f0}-\x{f4}][\x{1a}\x{80}-\x{bf}][\x{1a}?][\x{1a}\x{80}-\x{bf}]` +
	`|[\x{f0}-\x{f4}][\x{1a}\x{80}-\x{bf}][\x{1a}\x{80}-\x{bf}][\x{1a}?]` +
	`|\x{1a}`)

// replaceLossySequences is ftfy's replace_lossy_sequences: each lossy sequence becomes the UTF-8
// bytes of U+FFFD.
func replaceLossySequences(b []byte) []byte {
	return runesAsBytes(lossyUTF8RE.ReplaceAllLiteralString(bytesAsRunes(b), "\u00ef\u00bf\u00bd"))
}

// decodeUTF8Variants decodes b as ftfy's "utf-8-variants" codec: strict UTF-8, plus CESU-8 (a
// surrogate pair written as two 3-byte sequences) and Java's 0xC0 0x80 for U+0000. ok is false
// where Python raises UnicodeDecodeError. Without the bytes 0xC0 and 0xED it is plain UTF-8, which
// is the codec fix_encoding picks for such bytes.
func decodeUTF8Variants(b []byte) (string, bool) {
	var sb strings.Builder
	for i := 0; i < len(b); {
		switch {
		case b[i] == 0xc0:
			if i+1 < len(b) && b[i+1] == 0x80 {
				sb.WriteByte(0)
				i += 2
				continue
			}
			return "", false
		case b[i] == 0xed && (i+1 == len(b) || b[i+1] >= 0xa0):
			// A surrogate: only a whole CESU-8 pair decodes.
			if i+6 <= len(b) && b[i+1] <= 0xaf && isCont(b[i+2]) && b[i+3] == 0xed &&
				b[i+4] >= 0xb0 && b[i+4] <= 0xbf && isCont(b[i+5]) {
				cp := rune(b[i+1]&0x0f)<<16 | rune(b[i+2]&0x3f)<<10 | rune(b[i+4]&0x0f)<<6 | rune(b[i+5]&0x3f)
				sb.WriteRune(cp + 0x10000)
				i += 6
				continue
			}
			return "", false
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return "", false
		}
		sb.WriteRune(r)
		i += size
	}
	return sb.String(), true
}

func isCont(c byte) bool { return c >= 0x80 && c <= 0xbf }

func isASCII(text string) bool {
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			return false
		}
	}
	return true
}

// fixEncoding is ftfy's fix_encoding with the default configuration.
func fixEncoding(text string) string {
	for {
		fixed := fixEncodingStep(text)
		if fixed == text {
			return text
		}
		text = fixed
	}
}

// fixEncodingStep is one step of fix_encoding (_fix_encoding_one_step_and_explain).
func fixEncodingStep(text string) string {
	if text == "" || isASCII(text) || !isBad(text) {
		return text
	}
	latin1Possible := false
	for _, c := range charmapEncodings {
		if !c.canEncode(text) {
			continue
		}
		if c.name == "latin-1" {
			latin1Possible = true
		}
		b := c.encodeString(text)
		if c.name != "macroman" && alteredUTF8RE.MatchString(bytesAsRunes(b)) {
			b = restoreByteA0(b)
		}
		if c.sloppy {
			b = replaceLossySequences(b)
		}
		if fixed, ok := decodeUTF8Variants(b); ok {
			return fixed
		}
	}
	if len(utf8DetectorMatches(text)) > 0 {
		if fixed := decodeInconsistentUTF8(text); fixed != text {
			return fixed
		}
	}
	// ftfy would keep text that both Latin-1 and "windows-1252" can encode, but its list of
	// possible encodings names "sloppy-windows-1252", so that test never holds: text that Latin-1
	// can encode is read as strict Windows-1252 when that succeeds and changes it.
	if latin1Possible {
		if fixed, ok := latin1AsWindows1252(text); ok && fixed != text {
			return fixed
		}
	}
	if hasC1(text) {
		return fixC1Controls(text)
	}
	return text
}

// latin1AsWindows1252 is text.encode("latin-1").decode("windows-1252"); ok is false where the strict
// codec has no character for a byte (0x81, 0x8D, 0x8F, 0x90, 0x9D).
func latin1AsWindows1252(text string) (string, bool) {
	var sb strings.Builder
	for _, r := range text {
		if r >= 0x80 && r <= 0x9f {
			w := highByte(xcharmap.Windows1252, byte(r))
			if w < 0 {
				return "", false
			}
			r = w
		}
		sb.WriteRune(r)
	}
	return sb.String(), true
}

// decodeInconsistentUTF8 is ftfy's decode_inconsistent_utf8: each run that looks like UTF-8
// mojibake, shorter than the whole text and bad by itself, is fixed on its own.
func decodeInconsistentUTF8(text string) string {
	matches := utf8DetectorMatches(text)
	if len(matches) == 0 {
		return text
	}
	var sb strings.Builder
	last := 0
	for _, m := range matches {
		sub := text[m[0]:m[1]]
		sb.WriteString(text[last:m[0]])
		if len(sub) < len(text) && isBad(sub) {
			sub = fixEncoding(sub)
		}
		sb.WriteString(sub)
		last = m[1]
	}
	sb.WriteString(text[last:])
	return sb.String()
}

func hasC1(text string) bool {
	for _, r := range text {
		if r >= 0x80 && r <= 0x9f {
			return true
		}
	}
	return false
}

// fixC1Controls is ftfy's fix_c1_controls: C1 controls become the sloppy-Windows-1252 characters of
// their bytes (the five bytes Windows-1252 leaves undefined stay as they are).
func fixC1Controls(text string) string {
	if !hasC1(text) {
		return text
	}
	return strings.Map(func(r rune) rune {
		if r >= 0x80 && r <= 0x9f {
			return sloppyWindows1252.decode[r]
		}
		return r
	}, text)
}
