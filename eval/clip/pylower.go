package clip

import (
	"strings"
	"unicode"
)

// pyLower is Python 3's str.lower() (CPython's lower_ucs4): every code point takes its full
// lower-case mapping, which is Unicode's simple mapping except for U+0130 LATIN CAPITAL LETTER I
// WITH DOT ABOVE, which becomes "i\u0307" (the one unconditional multi-code-point lower-case
// mapping of SpecialCasing.txt); CPython ignores the language-dependent rules but applies the
// Final_Sigma context to U+03A3 GREEK CAPITAL LETTER SIGMA (handle_capital_sigma): it becomes
// final ς when the nearest code point before it that is not case-ignorable is cased, and the
// nearest one after it that is not case-ignorable is not cased or does not exist; otherwise σ.
// The context is read on the original text.
//
// The simple mappings and the Cased and Case_Ignorable properties come from Go's unicode tables,
// so code points that a given Python's Unicode version does not know yet may map differently.
func pyLower(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var runes []rune // decoded lazily, only when a capital sigma needs its context
	for i, r := range s {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3a3:
			if runes == nil {
				runes = []rune(s)
			}
			b.WriteRune(sigmaLower(runes, runeIndex(s, i)))
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// runeIndex is the index in code points of the byte offset off of s.
func runeIndex(s string, off int) int {
	n := 0
	for i := range s {
		if i >= off {
			break
		}
		n++
	}
	return n
}

// sigmaLower lowers the capital sigma at runes[i] by the Final_Sigma context.
func sigmaLower(runes []rune, i int) rune {
	j := i - 1
	for j >= 0 && caseIgnorable(runes[j]) {
		j--
	}
	if j < 0 || !cased(runes[j]) {
		return 'σ'
	}
	j = i + 1
	for j < len(runes) && caseIgnorable(runes[j]) {
		j++
	}
	if j == len(runes) || !cased(runes[j]) {
		return 'ς'
	}
	return 'σ'
}

// cased is Unicode's Cased property: Lowercase, Uppercase or titlecase letter.
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable property: the categories Mn, Me, Cf, Lm and Sk, and
// the characters whose Word_Break is MidLetter, MidNumLet or Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', // Single_Quote
		'.', 0x2018, 0x2019, 0x2024, 0xfe52, 0xff07, 0xff0e, // MidNumLet
		':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2027, 0xfe13, 0xfe55, 0xff1a: // MidLetter
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
