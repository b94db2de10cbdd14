package clip

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A Go reading of ftfy.fix_text (ftfy 6.3.1, the version pip installs for CLIP's unpinned "ftfy"
// requirement) with its default TextFixerConfig, which is how CLIP's basic_clean calls it:
//
//   - the text is fixed in segments that end after each '\n' (at most 1,000,000 code points each);
//   - HTML entities are decoded ("auto") until a segment containing '<' is met: from that segment
//     on, for the rest of the text, they are left alone;
//   - each segment goes through the fixers below, in ftfy's order, again and again until a pass
//     changes nothing: unescape_html, fix_encoding (with restore_byte_a0, replace_lossy_sequences,
//     decode_inconsistent_utf8 and fix_c1_controls), fix_c1_controls, fix_latin_ligatures,
//     fix_character_width, uncurl_quotes, fix_line_breaks, fix_surrogates,
//     remove_terminal_escapes, remove_control_chars, then NFC normalisation.
//
// fix_surrogates has nothing to do on Go strings: UTF-16 surrogates cannot be encoded in valid
// UTF-8, and Go reads the bytes of one as U+FFFD, which is what ftfy makes of a lone surrogate
// (ftfy would join a valid pair that Python kept as two code points; a Go string never holds one).

// ftfyMaxSegment is ftfy's max_decode_length, in code points.
const ftfyMaxSegment = 1000000

// ftfyFixText is ftfy.fix_text(text) with default options.
func ftfyFixText(text string) string {
	var out strings.Builder
	unescape := true
	for len(text) > 0 {
		end := strings.IndexByte(text, '\n') + 1
		if end == 0 {
			end = len(text)
		}
		if n := utf8.RuneCountInString(text[:end]); n > ftfyMaxSegment {
			end = byteOffsetOfRune(text, ftfyMaxSegment)
		}
		segment := text[:end]
		if unescape && strings.Contains(segment, "<") {
			unescape = false
		}
		out.WriteString(ftfyFixSegment(segment, unescape))
		text = text[end:]
	}
	return out.String()
}

// byteOffsetOfRune is the byte offset of the n-th code point of s.
func byteOffsetOfRune(s string, n int) int {
	i := 0
	for off := range s {
		if i == n {
			return off
		}
		i++
	}
	return len(s)
}

// ftfyFixSegment is ftfy's fix_and_explain on one segment: the fixers, repeated until stable.
func ftfyFixSegment(text string, unescape bool) string {
	if unescape && strings.Contains(text, "<") {
		unescape = false
	}
	for {
		orig := text
		if unescape {
			text = ftfyUnescapeHTML(text)
		}
		text = fixEncoding(text)
		text = fixC1Controls(text)
		text = fixLatinLigatures.Replace(text)
		text = fixCharacterWidth(text)
		text = uncurlQuotes(text)
		text = fixLineBreaks.Replace(text)
		text = removeTerminalEscapes(text)
		text = removeControlChars(text)
		text = norm.NFC.String(text)
		if text == orig {
			return text
		}
	}
}

// ftfyEntityRE is ftfy's HTML_ENTITY_RE.
var ftfyEntityRE = regexp.MustCompile(`&#?[0-9A-Za-z]{1,24};`)

// ftfyUnescapeHTML is ftfy's unescape_html: only references ending in ';' are decoded: the HTML5
// names, their all-caps spellings for the lowercase names ("&EACUTE;" → "É"), and numeric
// references that Python's html.unescape decodes whole.
func ftfyUnescapeHTML(text string) string {
	if !strings.Contains(text, "&") {
		return text
	}
	return ftfyEntityRE.ReplaceAllStringFunc(text, func(ref string) string {
		if v, ok := html5Entities[ref[1:]]; ok {
			return v
		}
		if v, ok := ftfyUpperEntities[ref]; ok {
			return v
		}
		if strings.HasPrefix(ref, "&#") {
			if v := pyHTMLUnescape(ref); !strings.Contains(v, ";") {
				return v
			}
		}
		return ref
	})
}

// fixLatinLigatures is ftfy's fix_latin_ligatures: Latin ligatures and digraphs split into letters
// (ﬁ → fi); ligatures such as æ, often intended, are kept.
var fixLatinLigatures = strings.NewReplacer(
	"\u0132", "IJ", "\u0133", "ij", "\u0149", "\u02bcn",
	"\u01f1", "DZ", "\u01f2", "Dz", "\u01f3", "dz",
	"\u01c4", "D\u017d", "\u01c5", "D\u017e", "\u01c6", "d\u017e",
	"\u01c7", "LJ", "\u01c8", "Lj", "\u01c9", "lj",
	"\u01ca", "NJ", "\u01cb", "Nj", "\u01cc", "nj",
	"\ufb00", "ff", "\ufb01", "fi", "\ufb02", "fl", "\ufb03", "ffi", "\ufb04", "ffl",
	"\ufb05", "\u017ft", "\ufb06", "st",
)

// widthMap is ftfy's WIDTH_MAP: U+3000 IDEOGRAPHIC SPACE to a space, and every character of
// U+FF01-U+FFEF (full-width ASCII, half-width katakana and Hangul, ...) that NFKC changes to its
// NFKC form.
var widthMap = func() map[rune]string {
	m := map[rune]string{0x3000: " "}
	for r := rune(0xff01); r < 0xfff0; r++ {
		s := string(r)
		if alt := norm.NFKC.String(s); alt != s {
			m[r] = alt
		}
	}
	return m
}()

// fixCharacterWidth is ftfy's fix_character_width.
func fixCharacterWidth(text string) string {
	i := strings.IndexFunc(text, func(r rune) bool { _, ok := widthMap[r]; return ok })
	if i < 0 {
		return text
	}
	var sb strings.Builder
	sb.WriteString(text[:i])
	for _, r := range text[i:] {
		if s, ok := widthMap[r]; ok {
			sb.WriteString(s)
		} else {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// uncurlQuotes is ftfy's uncurl_quotes: U+02BC and U+2018-U+201B become ', U+201C-U+201F become ".
// Primes (U+2032, U+2033) are not quotes and stay.
func uncurlQuotes(text string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == 0x2bc || (r >= 0x2018 && r <= 0x201b):
			return '\''
		case r >= 0x201c && r <= 0x201f:
			return '"'
		}
		return r
	}, text)
}

// fixLineBreaks is ftfy's fix_line_breaks: CRLF, CR, LINE SEPARATOR, PARAGRAPH SEPARATOR and NEXT
// LINE (U+0085) become "\n" (strings.Replacer prefers "\r\n" over "\r" at the same position).
var fixLineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n")

// terminalEscapeRE is ftfy's ANSI_RE: ESC '[' then digits (any Unicode decimal digit, as Python's
// \d) or ';', then an ASCII letter.
var terminalEscapeRE = regexp.MustCompile(`\x1b\[(?:\p{Nd}|;)*[a-zA-Z]`)

// removeTerminalEscapes is ftfy's remove_terminal_escapes.
func removeTerminalEscapes(text string) string {
	if !strings.Contains(text, "\x1b") {
		return text
	}
	return terminalEscapeRE.ReplaceAllLiteralString(text, "")
}

// isRemovedControl is ftfy's CONTROL_CHARS: C0 controls except tab, newline, form feed and
// carriage return; DEL; the deprecated Arabic format controls U+206A-U+206F; the byte order mark
// U+FEFF (anywhere in the text); the interlinear annotation characters and U+FFFC.
func isRemovedControl(r rune) bool {
	switch {
	case r <= 0x08, r == 0x0b, r >= 0x0e && r <= 0x1f, r == 0x7f:
		return true
	case r >= 0x206a && r <= 0x206f, r == 0xfeff, r >= 0xfff9 && r <= 0xfffc:
		return true
	}
	return false
}

// removeControlChars is ftfy's remove_control_chars.
func removeControlChars(text string) string {
	if strings.IndexFunc(text, isRemovedControl) < 0 {
		return text
	}
	return strings.Map(func(r rune) rune {
		if isRemovedControl(r) {
			return -1
		}
		return r
	}, text)
}
