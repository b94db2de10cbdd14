package clip

import (
	"strings"
	"unicode/utf8"
)

// This file reproduces Python's html.unescape (Lib/html/__init__.py), which CLIP's basic_clean
// applies twice after ftfy. Go's html.UnescapeString differs from it on invalid references: Python
// drops references to control characters and non-characters (&#1; → ""), maps &#13; to "\r",
// accepts entity names made of any characters but tab, newline, form feed, space, '<', '&', '#'
// and ';', and decodes the longest known prefix of an unknown name ("&ampx" → "&x").

// htmlCharrefC1 is HTML5's table for numeric references to 0x00, 0x0D and 0x80-0x9F.
var htmlCharrefC1 = map[int]string{
	0x00: "\ufffd", 0x0d: "\r",
	0x80: "\u20ac", 0x81: "\u0081", 0x82: "\u201a", 0x83: "\u0192", 0x84: "\u201e", 0x85: "\u2026",
	0x86: "\u2020", 0x87: "\u2021", 0x88: "\u02c6", 0x89: "\u2030", 0x8a: "\u0160", 0x8b: "\u2039",
	0x8c: "\u0152", 0x8d: "\u008d", 0x8e: "\u017d", 0x8f: "\u008f", 0x90: "\u0090", 0x91: "\u2018",
	0x92: "\u2019", 0x93: "\u201c", 0x94: "\u201d", 0x95: "\u2022", 0x96: "\u2013", 0x97: "\u2014",
	0x98: "\u02dc", 0x99: "\u2122", 0x9a: "\u0161", 0x9b: "\u203a", 0x9c: "\u0153", 0x9d: "\u009d",
	0x9e: "\u017e", 0x9f: "\u0178",
}

// htmlDroppedCodepoint reports the code points a numeric reference to decodes to nothing in
// Python: C0 controls but tab, newline, form feed and carriage return; DEL and the C1 range (the
// latter only reached through htmlCharrefC1's gaps, which it has none of); U+FDD0-U+FDEF; and the
// two non-characters at the end of every plane.
func htmlDroppedCodepoint(n int) bool {
	switch {
	case n >= 0x1 && n <= 0x8, n == 0xb, n >= 0xe && n <= 0x1f, n >= 0x7f && n <= 0x9f:
		return true
	case n >= 0xfdd0 && n <= 0xfdef:
		return true
	case n&0xfffe == 0xfffe && n <= 0x10ffff:
		return true
	}
	return false
}

// decodeNumericRef is Python's reading of "&#..." once the digits are parsed; overflow means the
// number exceeded 0x10FFFF while it was read.
func decodeNumericRef(n int, overflow bool) string {
	if !overflow {
		if s, ok := htmlCharrefC1[n]; ok {
			return s
		}
	}
	if overflow || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff) {
		return "\ufffd"
	}
	if htmlDroppedCodepoint(n) {
		return ""
	}
	return string(rune(n))
}

func isDecDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// matchCharref matches Python's reference pattern at s[i] == '&':
//
//	&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
//
// It returns the end of the match and its replacement, or ok false when nothing matches there.
func matchCharref(s string, i int) (end int, repl string, ok bool) {
	j := i + 1
	if j < len(s) && s[j] == '#' {
		k := j + 1
		if k < len(s) && isDecDigit(s[k]) {
			n, overflow := 0, false
			for ; k < len(s) && isDecDigit(s[k]); k++ {
				if n = n*10 + int(s[k]-'0'); n > 0x10ffff {
					overflow, n = true, 0x110000
				}
			}
			if k < len(s) && s[k] == ';' {
				k++
			}
			return k, decodeNumericRef(n, overflow), true
		}
		if k+1 < len(s) && (s[k] == 'x' || s[k] == 'X') && hexVal(s[k+1]) >= 0 {
			k++
			n, overflow := 0, false
			for ; k < len(s) && hexVal(s[k]) >= 0; k++ {
				if n = n*16 + hexVal(s[k]); n > 0x10ffff {
					overflow, n = true, 0x110000
				}
			}
			if k < len(s) && s[k] == ';' {
				k++
			}
			return k, decodeNumericRef(n, overflow), true
		}
		return 0, "", false
	}
	// A name: 1 to 32 code points other than \t \n \f space < & # ;, then an optional ';'.
	k, count := j, 0
	for k < len(s) && count < 32 {
		r, size := utf8.DecodeRuneInString(s[k:])
		if r == '\t' || r == '\n' || r == '\f' || r == ' ' || r == '<' || r == '&' || r == '#' || r == ';' {
			break
		}
		k += size
		count++
	}
	if count == 0 {
		return 0, "", false
	}
	if k < len(s) && s[k] == ';' {
		k++
	}
	name := s[j:k]
	if v, ok := html5Entities[name]; ok {
		return k, v, true
	}
	// The longest known prefix of at least two code points, shorter than the name.
	var bounds []int // byte offsets after each code point of name
	for off := range name {
		if off > 0 {
			bounds = append(bounds, off)
		}
	}
	for x := len(bounds) - 1; x >= 1; x-- { // bounds[x] ends the prefix of x+1 code points
		if v, ok := html5Entities[name[:bounds[x]]]; ok {
			return k, v + name[bounds[x]:], true
		}
	}
	return k, "&" + name, true
}

// pyHTMLUnescape is Python's html.unescape.
func pyHTMLUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if s[i] != '&' {
			i++
			continue
		}
		end, repl, ok := matchCharref(s, i)
		if !ok {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		i, last = end, end
	}
	b.WriteString(s[last:])
	return b.String()
}
