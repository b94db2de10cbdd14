package clip

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// ftfy's "badness" heuristic (ftfy 6.3.1, ftfy/badness.py) and its detector of embedded UTF-8
// mojibake (ftfy/chardata.py UTF8_DETECTOR_RE). The character sets are ftfy's tables, written as
// regexp class bodies; the rules are ftfy's, one alternative each.

// Character categories of ftfy's MOJIBAKE_CATEGORIES, as regexp class bodies.
const (
	// common: appear in many contexts (no-break space, soft hyphen, middle dot, acute accent,
	// dashes, horizontal bar, ellipsis, right single quote).
	mbCommon = `\x{a0}\x{ad}\x{b4}\x{b7}\x{2013}-\x{2015}\x{2019}\x{2026}`
	// c1: the C1 controls.
	mbC1 = `\x{80}-\x{9f}`
	// bad: nearly always mojibake (¦ ¤ ¨ ¬ ¯ ¸ ƒ ˆ ˇ ˘ ˛ ˜ † ‡ ‰ ⌐ ◊ � ª º).
	mbBad = `\x{a4}\x{a6}\x{a8}\x{aa}\x{ac}\x{af}\x{b8}\x{ba}\x{192}\x{2c6}\x{2c7}\x{2d8}\x{2db}\x{2dc}` +
		`\x{2020}\x{2021}\x{2030}\x{2310}\x{25ca}\x{fffd}`
	// law: § ¶.
	mbLaw = `\x{a7}\x{b6}`
	// currency: ¢ £ ¥ ₧ €.
	mbCurrency = `\x{a2}\x{a3}\x{a5}\x{20a7}\x{20ac}`
	// start_punctuation: ¡ © « ¿ ΄ ΅ ‘ ‚ “ „ • ‹ and U+F8FF.
	mbStartPunct = `\x{a1}\x{a9}\x{ab}\x{bf}\x{384}\x{385}\x{2018}\x{201a}\x{201c}\x{201e}\x{2022}\x{2039}\x{f8ff}`
	// end_punctuation: ® » ˝ ” › ™.
	mbEndPunct = `\x{ae}\x{bb}\x{2dd}\x{201d}\x{203a}\x{2122}`
	// numeric: superscripts, ±, fractions, ×, µ, ÷, ⁄, №, and mathematical operators.
	mbNumeric = `\x{b1}-\x{b3}\x{b5}\x{b9}\x{bc}-\x{be}\x{d7}\x{f7}\x{2044}\x{2116}\x{2202}\x{2206}\x{220f}` +
		`\x{2211}\x{221a}\x{221e}\x{2229}\x{222b}\x{2248}\x{2260}\x{2261}\x{2264}\x{2265}`
	// kaomoji: letters used in emoticons (accented O and U, °).
	mbKaomoji = `\x{b0}\x{d2}-\x{d6}\x{d9}-\x{dc}\x{f2}-\x{f6}\x{f8}-\x{fc}\x{14c}\x{150}\x{16a}\x{172}`
	// upper_accented: accented capital letters (not the kaomoji O's and U's).
	mbUpperAccented = `\x{c0}-\x{d1}\x{d8}\x{dc}\x{dd}\x{100}\x{102}\x{104}\x{106}\x{10c}\x{10e}\x{110}\x{112}` +
		`\x{116}\x{118}\x{11a}\x{11e}\x{122}\x{12a}\x{130}\x{136}\x{139}\x{13b}\x{13d}\x{141}\x{143}\x{145}` +
		`\x{147}\x{152}\x{158}\x{15a}\x{15e}\x{160}\x{162}\x{164}\x{16e}\x{170}\x{178}\x{179}\x{17b}\x{17d}\x{490}`
	// lower_accented: accented small letters, ß, œ, ﬁ, ﬂ.
	mbLowerAccented = `\x{df}-\x{f1}\x{fc}\x{101}\x{103}\x{105}\x{107}\x{10d}\x{10f}\x{111}\x{113}\x{117}\x{119}` +
		`\x{11b}\x{11f}\x{123}\x{12b}\x{12f}\x{137}\x{13a}\x{13c}\x{13e}\x{142}\x{153}\x{155}\x{15b}\x{15f}` +
		`\x{161}\x{165}\x{17a}\x{17c}\x{17e}\x{491}\x{fb01}\x{fb02}`
	// upper_common: Þ, Greek and Cyrillic capitals.
	mbUpperCommon = `\x{de}\x{386}\x{388}-\x{38a}\x{38c}\x{38e}\x{38f}\x{391}-\x{3ab}\x{401}-\x{42f}`
	// lower_common: Greek and Cyrillic small letters.
	mbLowerCommon = `\x{3ac}-\x{3c9}\x{430}-\x{45f}`
	// box: box-drawing and block characters.
	mbBox = `\x{2502}\x{250c}\x{2510}\x{2518}\x{251c}\x{2524}\x{252c}\x{253c}\x{2550}-\x{256c}\x{2580}\x{2584}` +
		`\x{2588}\x{258c}\x{2590}-\x{2593}`
)

// pyWhitespace is what \s matches in Python's re on str patterns (str.isspace).
const pyWhitespace = `\t\n\x{0b}\x{0c}\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`

// pyWord is what \w matches in Python's re on str patterns: letters, numbers and '_'.
const pyWord = `\p{L}\p{N}_`

// badnessRules are the alternatives of ftfy's BADNESS_RE, in its order. Each is a sequence of
// character classes (and a few literals) that is much more likely in mojibake than in real text.
var badnessRules = []string{
	`[{c1}]`,
	`[{bad}{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}{currency}{numeric}{law}][{bad}]`,
	`[a-zA-Z][{lower_common}{upper_common}][{bad}]`,
	`[{bad}][{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}{currency}{numeric}{law}]`,
	`[{lower_accented}{lower_common}{box}{end_punctuation}{currency}{numeric}][{upper_accented}]`,
	`[{box}{end_punctuation}{currency}{numeric}][{lower_accented}]`,
	`[{lower_accented}{box}{end_punctuation}][{currency}]`,
	`[{space}][{upper_accented}][{currency}]`,
	`[{upper_accented}{box}][{numeric}{law}]`,
	`[{lower_accented}{upper_accented}{box}{currency}{end_punctuation}][{start_punctuation}][{numeric}]`,
	`[{lower_accented}{upper_accented}{currency}{numeric}{box}{law}][{end_punctuation}][{start_punctuation}]`,
	`[{currency}{numeric}{box}][{start_punctuation}]`,
	`[a-z][{upper_accented}][{start_punctuation}{currency}]`,
	`[{box}][{kaomoji}]`,
	`[{lower_accented}{upper_accented}{currency}{numeric}{start_punctuation}{end_punctuation}{law}][{box}]`,
	`[{box}][{end_punctuation}]`,
	`[{lower_accented}{upper_accented}][{start_punctuation}{end_punctuation}][{word}]`,
	// œ or Œ not followed by an unaccented Latin letter.
	`[\x{152}\x{153}][^A-Za-z]`,
	// A degree sign after an accented capital.
	`[{upper_accented}]\x{b0}`,
	// Two-character Windows-1252 mojibake: Â Ã Î Ð followed by one of € œ Š š ¢ £ Ÿ ž, no-break
	// space, soft hyphen, ® © ° · », start or end punctuation, – — ´.
	`[\x{c2}\x{c3}\x{ce}\x{d0}][\x{20ac}\x{153}\x{160}\x{161}\x{a2}\x{a3}\x{178}\x{17e}\x{a0}\x{ad}\x{ae}\x{a9}\x{b0}\x{b7}\x{bb}{start_punctuation}{end_punctuation}\x{2013}\x{2014}\x{b4}]`,
	// × followed by ² or ³.
	`\x{d7}[\x{b2}\x{b3}]`,
	// Windows-1252 mojibake of Arabic: four characters, Ø or Ù then a common, currency, bad,
	// numeric, start-punctuation or Ÿ Š ® ° µ » character, twice.
	`[\x{d8}\x{d9}][{common}{currency}{bad}{numeric}{start_punctuation}\x{178}\x{160}\x{ae}\x{b0}\x{b5}\x{bb}]` +
		`[\x{d8}\x{d9}][{common}{currency}{bad}{numeric}{start_punctuation}\x{178}\x{160}\x{ae}\x{b0}\x{b5}\x{bb}]`,
	// à then ² µ ¹ ¼ ½ ¾ (South Asian scripts in Windows-1252).
	`\x{e0}[\x{b2}\x{b5}\x{b9}\x{bc}\x{bd}\x{be}]`,
	// MacRoman mojibake.
	`\x{221a}[\x{b1}\x{2202}\x{2020}\x{2260}\x{ae}\x{2122}\x{b4}\x{2264}\x{2265}\x{a5}\x{b5}\x{f8}]`,
	`\x{2248}[\x{b0}\x{a2}]`,
	`\x{201a}\x{c4}[\x{ec}\x{ee}\x{ef}\x{f2}\x{f4}\x{fa}\x{f9}\x{fb}\x{2020}\x{b0}\x{a2}\x{3c0}]`,
	`\x{201a}[\x{e2}\x{f3}][\x{e0}\x{e4}\x{b0}\x{ea}]`,
	// Windows-1251 mojibake of the U+2000 range: вЂ.
	`\x{432}\x{402}`,
	// Windows-1251 mojibake of Latin-1 or Cyrillic: В Г Р С, one odd character, В Г Р С.
	`[\x{412}\x{413}\x{420}\x{421}][{c1}{bad}{start_punctuation}{end_punctuation}{currency}\x{b0}\x{b5}][\x{412}\x{413}\x{420}\x{421}]`,
	// ГўВЂВ, any character but a newline, then a Latin letter or a space.
	`\x{413}\x{45e}\x{412}\x{402}\x{412}.[A-Za-z ]`,
	// Windows-1252 encodings of à, á and the no-break space.
	`\x{c3}[\x{a0}\x{a1}]`,
	`[a-z][{space}]?[\x{c3}\x{c2}][ ]`,
	`^[\x{c3}\x{c2}][ ]`,
	// Â standing for the same character after a letter or punctuation.
	`[a-z.,?!{end_punctuation}]\x{c2}[ {start_punctuation}{end_punctuation}]`,
	// Windows-1253 mojibake of the U+2000 range: β€ then ™, no-break space, Ά, soft hyphen, ®, °.
	`\x{3b2}\x{20ac}[\x{2122}\x{a0}\x{386}\x{ad}\x{ae}\x{b0}]`,
	// Windows-1253 mojibake of Latin-1 or Greek: Β Γ Ξ Ο, one odd character, Β Γ Ξ Ο.
	`[\x{392}\x{393}\x{39e}\x{39f}][{c1}{bad}{start_punctuation}{end_punctuation}{currency}\x{b0}][\x{392}\x{393}\x{39e}\x{39f}]`,
	// Windows-1257 mojibake of the U+2000 range: ā€.
	`\x{101}\x{20ac}`,
}

// expandCategories replaces {name} with the category's class body.
var expandCategories = strings.NewReplacer(
	"{common}", mbCommon, "{c1}", mbC1, "{bad}", mbBad, "{law}", mbLaw, "{currency}", mbCurrency,
	"{start_punctuation}", mbStartPunct, "{end_punctuation}", mbEndPunct, "{numeric}", mbNumeric,
	"{kaomoji}", mbKaomoji, "{upper_accented}", mbUpperAccented, "{lower_accented}", mbLowerAccented,
	"{upper_common}", mbUpperCommon, "{lower_common}", mbLowerCommon, "{box}", mbBox,
	"{space}", pyWhitespace, "{word}", pyWord,
)

var badnessRE = func() *regexp.Regexp {
	parts := make([]string, len(badnessRules))
	for i, r := range badnessRules {
		parts[i] = expandCategories.Replace(r)
	}
	return regexp.MustCompile(strings.Join(parts, "|"))
}()

// isBad is ftfy's is_bad: whether text contains one of the badness patterns.
func isBad(text string) bool { return badnessRE.MatchString(text) }

// Character classes of ftfy's UTF8_CLUES, which find UTF-8 mojibake embedded in other text.
const (
	// Characters that single-byte codecs decode from the lead bytes 0xC2-0xDF of 2-byte UTF-8.
	utf8FirstOf2 = `\x{c2}-\x{df}\x{100}\x{102}\x{106}\x{10c}\x{10e}\x{110}\x{112}\x{116}\x{118}\x{11a}\x{11e}` +
		`\x{122}\x{12a}\x{130}\x{136}\x{139}\x{13b}\x{141}\x{143}\x{145}\x{147}\x{14c}\x{150}\x{158}\x{15a}` +
		`\x{15e}\x{160}\x{162}\x{16a}\x{16e}\x{170}\x{172}\x{179}\x{17b}\x{17d}\x{392}-\x{3a1}\x{3a3}-\x{3af}\x{412}-\x{42f}`
	// ... from the lead bytes 0xE0-0xEF of 3-byte UTF-8.
	utf8FirstOf3 = `\x{e0}-\x{ef}\x{101}\x{103}\x{105}\x{107}\x{10d}\x{10f}\x{113}\x{117}\x{119}\x{11b}\x{123}` +
		`\x{12b}\x{12f}\x{137}\x{13a}\x{13c}\x{155}\x{17a}\x{3b0}-\x{3bf}\x{430}-\x{43f}`
	// ... from the lead bytes 0xF0 and 0xF3 of 4-byte UTF-8.
	utf8FirstOf4 = `\x{f0}\x{f3}\x{111}\x{11f}\x{161}\x{3c0}\x{3c3}\x{440}\x{443}`
	// ... from the continuation bytes 0x80-0xBF (a space stands in for 0xA0).
	utf8Continuation = ` ` + utf8ContinuationStrict + `\x{2013}-\x{2015}\x{2018}\x{2019}\x{201a}\x{201c}-\x{201e}\x{2022}\x{2026}`
	// The same without the space, dashes, quotes, bullet and ellipsis that often stand for themselves.
	utf8ContinuationStrict = `\x{80}-\x{bf}\x{c6}\x{d8}\x{e6}\x{f8}\x{104}\x{105}\x{13d}\x{13e}\x{141}\x{142}\x{152}` +
		`\x{153}\x{156}\x{157}\x{15a}\x{15b}\x{15e}-\x{161}\x{164}\x{165}\x{178}-\x{17e}\x{192}\x{2c6}\x{2c7}` +
		`\x{2d8}\x{2db}-\x{2dd}\x{384}-\x{386}\x{388}-\x{38a}\x{38c}\x{38e}\x{38f}\x{401}-\x{40c}\x{40e}\x{40f}` +
		`\x{451}-\x{45c}\x{45e}\x{45f}\x{490}\x{491}\x{2020}\x{2021}\x{2030}\x{2039}\x{203a}\x{20ac}\x{2116}\x{2122}`
)

// utf8DetectorRE is UTF8_DETECTOR_RE without its look-behind, which utf8DetectorMatches applies: one
// or more runs of a lead character followed by the right number of continuation characters.
var utf8DetectorRE = regexp.MustCompile(`(?:[` + utf8FirstOf2 + `][` + utf8Continuation + `]|[` +
	utf8FirstOf3 + `][` + utf8Continuation + `]{2}|[` + utf8FirstOf4 + `][` + utf8Continuation + `]{3})+`)

var utf8StrictContinuationRE = regexp.MustCompile(`^[` + utf8ContinuationStrict + `]$`)

// utf8DetectorMatches returns the [start, end) byte ranges UTF8_DETECTOR_RE matches in text, in
// the order re.finditer or re.sub visits them: the look-behind refuses a match whose preceding
// character is a strict continuation character, and the search then resumes one character later.
func utf8DetectorMatches(text string) [][2]int {
	var out [][2]int
	pos := 0
	for pos < len(text) {
		loc := utf8DetectorRE.FindStringIndex(text[pos:])
		if loc == nil {
			break
		}
		start, end := pos+loc[0], pos+loc[1]
		if start > 0 && precededByStrictContinuation(text, start) {
			_, size := utf8.DecodeRuneInString(text[start:])
			pos = start + size
			continue
		}
		out = append(out, [2]int{start, end})
		pos = end
	}
	return out
}

func precededByStrictContinuation(text string, at int) bool {
	r, _ := utf8.DecodeLastRuneInString(text[:at])
	return utf8StrictContinuationRE.MatchString(string(r))
}
