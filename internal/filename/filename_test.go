package filename

import "testing"

func TestSafe(t *testing.T) {
	for _, c := range []struct {
		in   string
		sep  rune
		want string
	}{
		{"ViT-L/14", '-', "ViT-L-14"},
		{`a b\c:d`, '_', "a_b_c_d"},
		{"plain.name", '-', "plain.name"},
		{"", '-', ""},
	} {
		if got := Safe(c.in, c.sep); got != c.want {
			t.Errorf("Safe(%q, %q) = %q, want %q", c.in, c.sep, got, c.want)
		}
	}
}
