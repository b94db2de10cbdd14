package mjhq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Entry is one MJHQ-30K item.
type Entry struct {
	Key      string `json:"key"`
	Category string `json:"category"`
	Prompt   string `json:"prompt"`
}

// ReadMetadata reads meta_data.json (an object mapping key to {"category", "prompt"}) keeping the
// file order, which decides SANA's sample_nums subset.
func ReadMetadata(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("MJHQ-30K metadata: %w (meta_data.json comes with the Hugging Face dataset playgroundai/MJHQ-30K)", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%s: want a JSON object of key -> {category, prompt}", path)
	}
	var out []Entry
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		key, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("%s: bad key %v", path, t)
		}
		var v struct {
			Category string `json:"category"`
			Prompt   string `json:"prompt"`
		}
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: entry %s: %w", path, key, err)
		}
		if v.Category == "" {
			return nil, fmt.Errorf("%s: entry %s has no category", path, key)
		}
		if key == "" || filepath.Base(key) != key || key == "." || key == ".." {
			return nil, fmt.Errorf("%s: key %q is not a plain file name", path, key)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s: key %s repeated", path, key)
		}
		seen[key] = true
		out = append(out, Entry{Key: key, Category: v.Category, Prompt: v.Prompt})
	}
	if len(out) == 0 {
		return nil, errors.New(path + ": no entries")
	}
	return out, nil
}

// Select takes the first sampleNums entries in file order (0: all), then keeps the given categories
// (empty: all).
func Select(entries []Entry, sampleNums int, categories []string) []Entry {
	if sampleNums > 0 && sampleNums < len(entries) {
		entries = entries[:sampleNums]
	}
	if len(categories) == 0 {
		return entries
	}
	keep := map[string]bool{}
	for _, c := range categories {
		keep[c] = true
	}
	var out []Entry
	for _, e := range entries {
		if keep[e.Category] {
			out = append(out, e)
		}
	}
	return out
}

// ReferenceDir resolves where the reference images are: dir when given, else <root>/imgs when it
// exists, else root.
func ReferenceDir(root, dir string) string {
	if dir != "" {
		return dir
	}
	if st, err := os.Stat(filepath.Join(root, "imgs")); err == nil && st.IsDir() {
		return filepath.Join(root, "imgs")
	}
	return root
}

// ReferencePath is <dir>/<category>/<key>.jpg.
func ReferencePath(dir string, e Entry) string { return filepath.Join(dir, e.Category, e.Key+".jpg") }

// GeneratedPath finds <dir>/<key>.jpg, .jpeg or .png.
func GeneratedPath(dir string, e Entry) (string, error) {
	for _, ext := range []string{".jpg", ".jpeg", ".png"} {
		p := filepath.Join(dir, e.Key+ext)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("generated image for %s not found (%s.jpg/.jpeg/.png)", e.Key, filepath.Join(dir, e.Key))
}
