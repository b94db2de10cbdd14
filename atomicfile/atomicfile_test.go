package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteJSON: the file holds the value indented by two spaces with a final newline (HTML
// characters escaped, as encoding/json does), and no temporary file is left beside it.
func TestWriteJSON(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	v := struct {
		Name  string `json:"name"`
		Sizes []int  `json:"sizes"`
	}{"a<b", []int{1, 2}}
	if err := WriteJSON(OS{}, path, v); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"name\": \"a\\u003cb\",\n  \"sizes\": [\n    1,\n    2\n  ]\n}\n"
	if string(b) != want {
		t.Errorf("wrote %q, want %q", b, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, TempPattern(path))); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := WriteJSON(OS{}, path, func() {}); err == nil {
		t.Error("a value JSON cannot encode was written")
	}
}
