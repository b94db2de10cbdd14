package prepare

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// Item is one image with its caption, as a Source lists it.
type Item struct {
	Key           string // unique, non-empty sample id
	Caption       string
	Origin        string // where the image comes from (a path, or file#row), for messages
	Width, Height int    // the source image's size
	load          func() (*imaging.RGB8, error)
}

// Load decodes the item's image to 8-bit RGB (alpha dropped, as PIL's convert("RGB")).
func (it Item) Load() (*imaging.RGB8, error) {
	m, err := it.load()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", it.Origin, err)
	}
	if m.Width != it.Width || m.Height != it.Height {
		return nil, fmt.Errorf("image %s: decoded %dx%d, header said %dx%d", it.Origin, m.Width, m.Height, it.Width, it.Height)
	}
	return m, nil
}

// Source lists the images and captions of a dataset, in a fixed order.
type Source interface {
	// Items reads every entry's key, caption and image size (from the image header) without
	// decoding pixels.
	Items(ctx context.Context) ([]Item, error)
}

// OpenSource picks the source for path: a directory (Folder), a .jsonl file (JSONL) or a
// .parquet file (Parquet with the given columns).
func OpenSource(path string, pq ParquetColumns) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	switch {
	case st.IsDir():
		return Folder{Dir: path}, nil
	case strings.EqualFold(filepath.Ext(path), ".jsonl"):
		return JSONL{Path: path}, nil
	case strings.EqualFold(filepath.Ext(path), ".parquet"):
		return Parquet{Path: path, Columns: pq}, nil
	}
	return nil, fmt.Errorf("dataset %s: want a folder of images with .txt captions, a .jsonl file or a .parquet file", path)
}

// fileItem builds an item for an image file, reading its size from the header.
func fileItem(key, caption, path string) (Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return Item{}, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return Item{}, fmt.Errorf("image %s: %w", path, err)
	}
	return Item{Key: key, Caption: caption, Origin: path, Width: cfg.Width, Height: cfg.Height,
		load: func() (*imaging.RGB8, error) { return imaging.Load(path) }}, nil
}

// bytesItem builds an item for encoded image bytes.
func bytesItem(key, caption, origin string, b []byte) (Item, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return Item{}, fmt.Errorf("image %s: %w", origin, err)
	}
	return Item{Key: key, Caption: caption, Origin: origin, Width: cfg.Width, Height: cfg.Height,
		load: func() (*imaging.RGB8, error) { return imaging.Decode(bytes.NewReader(b)) }}, nil
}

// Folder is a directory tree of images (.jpg, .jpeg, .png, .webp, .bmp, .tif, .tiff), each with
// a caption in a .txt file of the same name beside it ("a/b.jpg" → "a/b.txt"; surrounding
// white space trimmed). Keys are the paths relative to Dir without extension, with "/"
// separators; items are in key order. An image without its .txt is an error.
type Folder struct{ Dir string }

// Items implements Source.
func (s Folder) Items(ctx context.Context) ([]Item, error) {
	var paths []string
	err := filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && imaging.IsImageFile(p) {
			paths = append(paths, p)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("dataset folder %s: %w", s.Dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("dataset folder %s holds no images", s.Dir)
	}
	sort.Strings(paths)
	items := make([]Item, 0, len(paths))
	var missing []string
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(s.Dir, p)
		base := strings.TrimSuffix(p, filepath.Ext(p))
		txt, err := os.ReadFile(base + ".txt")
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, base+".txt")
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("caption: %w", err)
		}
		key := filepath.ToSlash(strings.TrimSuffix(rel, filepath.Ext(rel)))
		it, err := fileItem(key, strings.TrimSpace(string(txt)), p)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("dataset folder %s: %d image(s) without a caption file, e.g. %s", s.Dir, len(missing), missing[0])
	}
	return items, checkKeys(items)
}

// JSONL is a file of one JSON object per line: {"path": "...", "caption": "..."} with an
// optional "key" (default: the path without extension). Relative paths are relative to the
// file's directory. Blank lines are skipped; items keep the file's order.
type JSONL struct{ Path string }

// Items implements Source.
func (s JSONL) Items(ctx context.Context) ([]Item, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	dir := filepath.Dir(s.Path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	var items []Item
	for line := 1; sc.Scan(); line++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var rec struct {
			Path    *string `json:"path"`
			Caption *string `json:"caption"`
			Key     string  `json:"key"`
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%s line %d: %w (want {\"path\": ..., \"caption\": ..., optional \"key\"})", s.Path, line, err)
		}
		if rec.Path == nil || *rec.Path == "" || rec.Caption == nil {
			return nil, fmt.Errorf("%s line %d: want non-empty \"path\" and a \"caption\"", s.Path, line)
		}
		p := *rec.Path
		key := rec.Key
		if key == "" {
			key = filepath.ToSlash(strings.TrimSuffix(p, filepath.Ext(p)))
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		it, err := fileItem(key, *rec.Caption, p)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", s.Path, line, err)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no entries", s.Path)
	}
	return items, checkKeys(items)
}

// checkKeys rejects empty and duplicate keys.
func checkKeys(items []Item) error {
	seen := make(map[string]string, len(items))
	for _, it := range items {
		if it.Key == "" {
			return fmt.Errorf("image %s: empty key", it.Origin)
		}
		if prev, dup := seen[it.Key]; dup {
			return fmt.Errorf("key %q is used by %s and %s", it.Key, prev, it.Origin)
		}
		seen[it.Key] = it.Origin
	}
	return nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
