package geneval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// Relations of position clauses.
var Relations = []string{"left of", "right of", "above", "below"}

// Position is a clause's ["relation", group] pair: this object must be in relation to the objects
// matched by include clause number Group.
type Position struct {
	Relation string
	Group    int
}

// MarshalJSON writes the pair as GenEval's two-element array.
func (p Position) MarshalJSON() ([]byte, error) { return json.Marshal([]any{p.Relation, p.Group}) }

// UnmarshalJSON reads ["relation", group].
func (p *Position) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("position %s: want [\"relation\", group]", b)
	}
	if err := json.Unmarshal(pair[0], &p.Relation); err != nil {
		return fmt.Errorf("position %s: %w", b, err)
	}
	if err := json.Unmarshal(pair[1], &p.Group); err != nil {
		return fmt.Errorf("position %s: %w", b, err)
	}
	return nil
}

// Clause is one include or exclude requirement.
type Clause struct {
	Class    string    `json:"class"`
	Count    int       `json:"count"`
	Color    string    `json:"color,omitempty"`
	Position *Position `json:"position,omitempty"`
}

// Metadata is one line of evaluation_metadata.jsonl.
type Metadata struct {
	Tag     string   `json:"tag"`
	Prompt  string   `json:"prompt"`
	Include []Clause `json:"include"`
	Exclude []Clause `json:"exclude,omitempty"`
	// Raw is the line as read (written back verbatim into the folder layout and result rows).
	Raw json.RawMessage `json:"-"`
}

// ParseMetadata parses and checks one metadata line.
func ParseMetadata(line []byte) (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(line, &m); err != nil {
		return m, err
	}
	m.Raw = append(json.RawMessage(nil), bytes.TrimSpace(line)...)
	if len(m.Include) == 0 && len(m.Exclude) == 0 {
		return m, fmt.Errorf("prompt %q has no include or exclude clause", m.Prompt)
	}
	for i, c := range m.Include {
		if c.Class == "" || c.Count < 1 {
			return m, fmt.Errorf("include clause %d: class %q with count %d", i, c.Class, c.Count)
		}
		if c.Position != nil {
			if !knownRelation(c.Position.Relation) {
				return m, fmt.Errorf("include clause %d: unknown relation %q", i, c.Position.Relation)
			}
			if c.Position.Group < 0 || c.Position.Group >= i {
				return m, fmt.Errorf("include clause %d: position refers to group %d, which is not an earlier clause", i, c.Position.Group)
			}
		}
	}
	for i, c := range m.Exclude {
		if c.Class == "" || c.Count < 1 {
			return m, fmt.Errorf("exclude clause %d: class %q with count %d", i, c.Class, c.Count)
		}
	}
	return m, nil
}

func knownRelation(r string) bool {
	for _, k := range Relations {
		if r == k {
			return true
		}
	}
	return false
}

// MetadataJSON is the line as written in layouts and results: the original text when there is one.
func (m Metadata) MetadataJSON() string {
	if len(m.Raw) > 0 {
		return string(m.Raw)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// ReadMetadata reads evaluation_metadata.jsonl (one JSON object per non-empty line).
func ReadMetadata(path string) ([]Metadata, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("GenEval metadata: %w (evaluation_metadata.jsonl is in prompts/ of github.com/djghosh13/geneval)", err)
	}
	defer f.Close()
	var out []Metadata
	err = readJSONL(f, path, 1<<20, func(line []byte) error {
		m, err := ParseMetadata(line)
		if err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readJSONL calls parse on every non-empty line of r, the JSONL file at path, trimmed; a line
// may be up to maxLine bytes. Errors name the path and the line number.
func readJSONL(r io.Reader, path string, maxLine int, parse func(line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := parse(line); err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// PromptDir is the folder of prompt i: <dir>/<00000>.
func PromptDir(dir string, prompt int) string { return filepath.Join(dir, fmt.Sprintf("%05d", prompt)) }

// SamplePath is where image j of prompt i goes: <dir>/<00000>/samples/<0000j>.png.
func SamplePath(dir string, prompt, sample int) string {
	return filepath.Join(PromptDir(dir, prompt), "samples", fmt.Sprintf("%05d.png", sample))
}

// WriteLayout creates GenEval's folder layout for generated images: one folder per prompt holding
// metadata.jsonl (that prompt's line) and an empty samples/ folder for the images.
func WriteLayout(dir string, prompts []Metadata) error {
	for i, m := range prompts {
		pd := PromptDir(dir, i)
		if err := os.MkdirAll(filepath.Join(pd, "samples"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pd, "metadata.jsonl"), []byte(m.MetadataJSON()+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Sample is one generated image in a layout.
type Sample struct {
	Prompt   int    // prompt folder number
	Index    int    // image number within the prompt
	Path     string // file path
	Rel      string // path relative to the layout root, with forward slashes (the result's filename)
	Metadata Metadata
}

var (
	digitsRe = regexp.MustCompile(`^\d+$`)
	pngRe    = regexp.MustCompile(`^(\d+)\.png$`)
)

// ScanLayout lists the samples of a layout: folders named only with digits, each with metadata.jsonl
// and images samples/<digits>.png, in folder and file order.
func ScanLayout(dir string) ([]Sample, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var folders []string
	for _, e := range entries {
		if e.IsDir() && digitsRe.MatchString(e.Name()) {
			folders = append(folders, e.Name())
		}
	}
	sort.Slice(folders, func(i, j int) bool {
		a, _ := strconv.Atoi(folders[i])
		b, _ := strconv.Atoi(folders[j])
		return a < b || (a == b && folders[i] < folders[j])
	})
	var out []Sample
	for _, name := range folders {
		pd := filepath.Join(dir, name)
		line, err := os.ReadFile(filepath.Join(pd, "metadata.jsonl"))
		if err != nil {
			return nil, fmt.Errorf("GenEval layout: %w", err)
		}
		md, err := ParseMetadata(bytes.TrimSpace(line))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(pd, "metadata.jsonl"), err)
		}
		files, err := os.ReadDir(filepath.Join(pd, "samples"))
		if err != nil {
			return nil, fmt.Errorf("GenEval layout: %w", err)
		}
		prompt, _ := strconv.Atoi(name)
		var imgs []Sample
		for _, f := range files {
			m := pngRe.FindStringSubmatch(f.Name())
			if f.IsDir() || m == nil {
				continue
			}
			idx, _ := strconv.Atoi(m[1])
			imgs = append(imgs, Sample{Prompt: prompt, Index: idx, Path: filepath.Join(pd, "samples", f.Name()),
				Rel: name + "/samples/" + f.Name(), Metadata: md})
		}
		sort.Slice(imgs, func(i, j int) bool { return imgs[i].Index < imgs[j].Index })
		out = append(out, imgs...)
	}
	return out, nil
}
