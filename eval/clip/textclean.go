package clip

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean is the text normalisation of OpenAI CLIP's SimpleTokenizer.encode (clip/simple_tokenizer.py):
//
//	whitespace_clean(basic_clean(text)).lower()
//
// where basic_clean is ftfy.fix_text (default options; see ftfyFixText), Python's html.unescape
// applied twice and str.strip(), and whitespace_clean replaces every run of whitespace by one space
// and strips again. lower is Python's str.lower() (see pyLower).
//
// Input is read as UTF-8; each byte that is not part of valid UTF-8 is read as U+FFFD.
func Clean(text string) string {
	if !utf8.ValidString(text) {
		text = string([]rune(text)) // each invalid byte becomes U+FFFD
	}
	text = ftfyFixText(text)
	text = pyHTMLUnescape(pyHTMLUnescape(text))
	text = strings.TrimFunc(text, isPySpace)
	text = collapseWhitespace(text)
	return pyLower(text)
}

// isPySpace is Python's str.isspace, which str.strip() removes: Unicode White_Space plus the
// separators U+001C-U+001F.
func isPySpace(r rune) bool {
	return unicode.Is(unicode.White_Space, r) || (r >= 0x1c && r <= 0x1f)
}

// collapseWhitespace is whitespace_clean: runs of \s (the regex module's Unicode whitespace)
// become one space, then the ends are stripped. The separators U+001C-U+001F, on which Python's
// str.isspace and the White_Space property disagree, cannot reach this point: ftfy removes them as
// control characters and html.unescape decodes no reference to them.
func collapseWhitespace(text string) string {
	return strings.Join(strings.FieldsFunc(text, isPySpace), " ")
}
