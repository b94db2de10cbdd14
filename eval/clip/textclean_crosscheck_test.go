package clip

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// TestCleanCrossCheck compares the cleaning with cases written by testdata/ftfy_crosscheck.py from
// the real ftfy and CPython. It is opt-in: set CLIP_FTFY_CASES to the JSONL file the script wrote.
// Differences are expected only for characters whose Unicode data differ between Go and that Python.
func TestCleanCrossCheck(t *testing.T) {
	path := os.Getenv("CLIP_FTFY_CASES")
	if path == "" {
		t.Skip("set CLIP_FTFY_CASES to the output of testdata/ftfy_crosscheck.py")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("cross-check cases: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var n, failed int
	for sc.Scan() {
		var c struct {
			In, Ftfy, Clean, Unescape string
			Bad                       bool
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
		check := func(what, got, want string) {
			if got != want {
				if failed++; failed <= 20 {
					t.Errorf("%s(%q) = %q, want %q", what, c.In, got, want)
				}
			}
		}
		check("isBad", strconv.FormatBool(isBad(c.In)), strconv.FormatBool(c.Bad))
		check("ftfyFixText", ftfyFixText(c.In), c.Ftfy)
		check("Clean", Clean(c.In), c.Clean)
		check("pyHTMLUnescape", pyHTMLUnescape(c.In), c.Unescape)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cases, %d differences", n, failed)
}
