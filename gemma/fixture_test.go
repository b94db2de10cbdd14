package gemma

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny from the generator")

// TinyFixtureDir is a complete tiny Gemma-2 folder (config.json, tokenizer.model,
// model.safetensors) other packages' tests load: tinyFolderConfig with the hand-built
// tokenizer and random float32 weights (seed 11).
const tinyFixtureDir = "testdata/tiny"

// TestTinyFixture checks that testdata/tiny is what the generator writes (run with -update to
// rewrite it) and that it loads and runs.
func TestTinyFixture(t *testing.T) {
	c := tinyFolderConfig()
	gen := t.TempDir()
	writeFolder(t, gen, c, paramsFrom(t, c, randomValues(c, 11, 1.5), dtypes.Float32))
	if *update {
		if err := os.MkdirAll(tinyFixtureDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"config.json", "tokenizer.model", "model.safetensors"} {
		want, err := os.ReadFile(filepath.Join(gen, name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(tinyFixtureDir, name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator (err %v): run go test ./gemma -run TestTinyFixture -update", path, err)
		}
	}
	m, err := Load(tinyFixtureDir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(testBackend(t), m.Config, m.Params, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids, mask := idsTensor([][]int{m.Tokenizer.EncodeWithBOS("hello world")}, 4, m.Tokenizer.Pad())
	if _, err := r.Hidden(ids, mask); err != nil {
		t.Fatal(err)
	}
}
