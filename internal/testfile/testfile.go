package testfile

import (
	"os"
	"path/filepath"
	"testing"
)

// Write puts body in the file name (a slash-separated path below dir, whose folders it makes)
// and returns the file's path; an error fails the test.
func Write(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
