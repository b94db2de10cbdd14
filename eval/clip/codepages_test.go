package clip

import "testing"

// TestCodePagesAsPython pins bytes of the code pages fix_encoding tries to Python's codecs
// (values read off Python 3.11's codecs): the x/text tables behind them, Python's undefined
// bytes, and ISO-8859-2's C1 controls, which Python decodes to themselves.
func TestCodePagesAsPython(t *testing.T) {
	for _, c := range []struct {
		name string
		b    byte
		want rune
	}{
		{"latin-1", 0x80, 0x80}, {"latin-1", 0xe9, 0xe9},
		{"sloppy-windows-1252", 0x80, 0x20ac}, {"sloppy-windows-1252", 0x81, 0x81}, {"sloppy-windows-1252", 0x9d, 0x9d}, {"sloppy-windows-1252", 0x92, 0x2019},
		{"sloppy-windows-1251", 0xc0, 0x0410}, {"sloppy-windows-1251", 0x98, 0x98},
		{"sloppy-windows-1250", 0x8a, 0x0160}, {"sloppy-windows-1253", 0xaa, 0xaa}, {"sloppy-windows-1253", 0xc1, 0x0391},
		{"sloppy-windows-1254", 0xd0, 0x011e}, {"sloppy-windows-1257", 0xa8, 0x00d8},
		{"iso-8859-2", 0x85, 0x85}, {"iso-8859-2", 0xa1, 0x0104},
		{"macroman", 0x80, 0x00c4}, {"macroman", 0xdb, 0x20ac},
		{"cp437", 0x80, 0x00c7}, {"cp437", 0xdb, 0x2588},
	} {
		var cm *charmap
		for _, e := range charmapEncodings {
			if e.name == c.name {
				cm = e
			}
		}
		if cm == nil {
			t.Fatalf("no codec %s", c.name)
		}
		if got := cm.decode[c.b]; got != c.want {
			t.Errorf("%s byte %#x: %#x, want %#x", c.name, c.b, got, c.want)
		}
	}
	// Strict Windows-1252 leaves 0x81 undefined (latin1AsWindows1252 refuses it).
	if _, ok := latin1AsWindows1252("\u0081"); ok {
		t.Error("0x81 decoded by strict windows-1252")
	}
}
