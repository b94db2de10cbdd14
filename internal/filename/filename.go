package filename

import "strings"

// Safe returns s with each slash, backslash, colon and space replaced by sep.
func Safe(s string, sep rune) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == ' ' {
			return sep
		}
		return r
	}, s)
}
