package checkpoints

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/safetensors"
)

// Format identifies the layout of run checkpoints written by this package. Version 2 stores
// the run state as named sections and a checksum of every tensor and of the metadata.
const Format = "sprint-run-checkpoint/2"

// Metadata keys of a run checkpoint's safetensors header.
const (
	MetaFormat     = "sprint.format"
	MetaState      = "sprint.state"
	MetaConfig     = "sprint.config"
	MetaConfigFlat = "sprint.config_flat"
	// MetaChecksums holds the CRC-32C of every tensor's bytes and of the other metadata
	// values (see Checksums); Load verifies them.
	MetaChecksums = "sprint.checksums"
)

// LatestName is the pointer file, in a checkpoints folder, naming the newest complete checkpoint.
const LatestName = "latest"

// ErrNoCheckpoint is returned when a folder holds no checkpoint file at all.
var ErrNoCheckpoint = errors.New("no checkpoint found")

// State is what a checkpoint records besides tensors and config: the step that names it, when
// it was saved, and the run's resume state as sections. Each section is opaque JSON owned by the
// component that wrote it (the training loop's counters, the RNG, the data reader's position,
// the optimizers); this package stores them without knowing their fields.
type State struct {
	// GlobalStep is the number of steps the run had taken; it names the file.
	GlobalStep int64 `json:"global_step"`
	// Sections are the components' resume states, by component name.
	Sections map[string]json.RawMessage `json:"sections"`
	// ConfigFingerprint is the sha256 of the canonical resolved config.
	ConfigFingerprint string `json:"config_fingerprint"`
	// SavedAt is when the checkpoint was written.
	SavedAt time.Time `json:"saved_at"`
	// Groups lists the tensor groups stored ("student", "opt_g", ...).
	Groups []string `json:"groups"`
}

// Section decodes section name into v; it is an error if the checkpoint has no such section.
func (s State) Section(name string, v any) error {
	raw, ok := s.Sections[name]
	if !ok {
		return fmt.Errorf("checkpoint has no %q section (it has %v)", name, slices.Sorted(maps.Keys(s.Sections)))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("checkpoint section %q: %w", name, err)
	}
	return nil
}

// Checkpoint is one run checkpoint.
type Checkpoint struct {
	State State
	// Tensors are every saved group's tensors, keyed "<group>/<name>".
	Tensors map[string]*tensors.Tensor
	// ConfigYAML is the resolved config of the run.
	ConfigYAML []byte
	// ConfigFlat is the same config flattened to dotted key -> canonical value, for diffs.
	ConfigFlat map[string]string
}

// Fingerprint is the sha256 (hex) of a canonical resolved config.
func Fingerprint(canonicalConfig []byte) string {
	h := sha256.Sum256(canonicalConfig)
	return hex.EncodeToString(h[:])
}

// DiffConfig lists the keys whose values differ between two flattened configs (present in
// one only, or with different values), sorted, leaving out keys for which ignore is true.
func DiffConfig(saved, current map[string]string, ignore func(key string) bool) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(saved)) {
		if v, ok := current[k]; (!ok || v != saved[k]) && (ignore == nil || !ignore(k)) {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(current)) {
		if _, ok := saved[k]; !ok && (ignore == nil || !ignore(k)) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Manager saves run checkpoints in one folder: step-NNNNNNNNN.safetensors files, each
// written atomically (temporary file, fsync, rename, directory fsync), then the `latest`
// pointer updated the same way, then checkpoints beyond the newest KeepLast deleted.
type Manager struct {
	dir  string
	keep int
	fs   atomicfile.FS
}

// NewManager opens (creating it if needed) the checkpoints folder dir, keeping the newest
// keepLast checkpoints. fs may be nil for the real file system. Temporary files left by an
// interrupted save are removed.
func NewManager(dir string, keepLast int, fs atomicfile.FS) (*Manager, error) {
	if fs == nil {
		fs = atomicfile.OS{}
	}
	if keepLast < 1 {
		return nil, fmt.Errorf("checkpoints: keep_last must be >= 1, got %d", keepLast)
	}
	if err := fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("checkpoints: creating folder %s: %w", dir, err)
	}
	m := &Manager{dir: dir, keep: keepLast, fs: fs}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: reading folder %s: %w", dir, err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			_ = fs.Remove(filepath.Join(dir, n))
		}
	}
	return m, nil
}

// Dir returns the checkpoints folder.
func (m *Manager) Dir() string { return m.dir }

// FileName returns the file name of the checkpoint of a global step.
func FileName(step int64) string { return fmt.Sprintf("step-%09d.safetensors", step) }

// stepOf parses a checkpoint file name; ok is false for other files.
func stepOf(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "step-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".safetensors")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// Save writes c as the checkpoint of c.State.GlobalStep, points `latest` at it and prunes
// old checkpoints. It returns the checkpoint's path. On error the previous checkpoints and
// `latest` are untouched.
func (m *Manager) Save(c *Checkpoint) (string, error) {
	st := c.State
	st.SavedAt = st.SavedAt.UTC()
	groups := map[string]bool{}
	for name := range c.Tensors {
		g, _, ok := strings.Cut(name, "/")
		if !ok || g == "" {
			return "", fmt.Errorf("checkpoints: tensor name %q is not of the form <group>/<name>", name)
		}
		groups[g] = true
	}
	st.Groups = slices.Sorted(maps.Keys(groups))
	stateJSON, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("checkpoints: encoding the run state: %w", err)
	}
	flatJSON, err := json.Marshal(c.ConfigFlat)
	if err != nil {
		return "", fmt.Errorf("checkpoints: encoding the flat config: %w", err)
	}
	md := map[string]string{
		MetaFormat:     Format,
		MetaState:      string(stateJSON),
		MetaConfig:     string(c.ConfigYAML),
		MetaConfigFlat: string(flatJSON),
	}
	sums, err := checksumsOf(c.Tensors, md)
	if err != nil {
		return "", fmt.Errorf("checkpoints: saving step %d: %w", st.GlobalStep, err)
	}
	md[MetaChecksums] = sums
	name := FileName(st.GlobalStep)
	path := filepath.Join(m.dir, name)
	if err := atomicfile.Write(m.fs, path, func(w io.Writer) error { return safetensors.Write(w, c.Tensors, md) }); err != nil {
		return "", fmt.Errorf("checkpoints: saving step %d: %w", st.GlobalStep, err)
	}
	if err := atomicfile.Write(m.fs, filepath.Join(m.dir, LatestName), func(w io.Writer) error {
		_, err := io.WriteString(w, name+"\n")
		return err
	}); err != nil {
		return "", fmt.Errorf("checkpoints: saving step %d: updating %s: %w", st.GlobalStep, LatestName, err)
	}
	if err := m.prune(name); err != nil {
		return path, fmt.Errorf("checkpoints: saved %s, but pruning old checkpoints failed: %w", path, err)
	}
	return path, nil
}

// list returns the checkpoint files of dir sorted by step, oldest first.
func list(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type stepFile struct {
		step int64
		name string
	}
	var files []stepFile
	for _, e := range entries {
		if s, ok := stepOf(e.Name()); ok && e.Type().IsRegular() {
			files = append(files, stepFile{s, e.Name()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].step < files[j].step })
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	return names, nil
}

// prune deletes the oldest checkpoints beyond the newest m.keep, never the latest one.
func (m *Manager) prune(latest string) error {
	names, err := list(m.dir)
	if err != nil {
		return err
	}
	var errs []error
	for i := 0; i < len(names)-m.keep; i++ {
		if names[i] == latest {
			continue
		}
		if err := m.fs.Remove(filepath.Join(m.dir, names[i])); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// List returns the paths of the checkpoints in dir, oldest first.
func List(dir string) ([]string, error) {
	names, err := list(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: listing %s: %w", dir, err)
	}
	for i, n := range names {
		names[i] = filepath.Join(dir, n)
	}
	return names, nil
}

// Latest returns the path of the newest loadable checkpoint of the checkpoints folder dir:
// the one `latest` names if it is valid, else (a lost or damaged pointer) the highest step
// whose header reads back as a run checkpoint. It returns ErrNoCheckpoint if there is none.
func Latest(dir string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, LatestName)); err == nil {
		name := strings.TrimSpace(string(b))
		if _, ok := stepOf(name); ok && filepath.Base(name) == name {
			p := filepath.Join(dir, name)
			if checkHeader(p) == nil {
				return p, nil
			}
		}
	}
	names, err := list(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("checkpoints: listing %s: %w", dir, err)
	}
	for i := len(names) - 1; i >= 0; i-- {
		p := filepath.Join(dir, names[i])
		if checkHeader(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("checkpoints: %s: %w", dir, ErrNoCheckpoint)
}

// Resolve turns a --resume argument into a checkpoint path: "latest" is the newest checkpoint
// of checkpointsDir; a folder is searched for its newest checkpoint (a checkpoints folder or
// a run folder holding one); anything else is a checkpoint file.
func Resolve(ref, checkpointsDir string) (string, error) {
	if ref == "latest" {
		return Latest(checkpointsDir)
	}
	fi, err := os.Stat(ref)
	if err != nil {
		return "", fmt.Errorf("checkpoints: resume from %q: %w", ref, err)
	}
	if !fi.IsDir() {
		return ref, nil
	}
	if sub := filepath.Join(ref, "checkpoints"); isDir(sub) {
		return Latest(sub)
	}
	return Latest(ref)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// checkHeader reports whether path is a complete run checkpoint (its header and every tensor
// extent fit in the file, and the format tag matches).
func checkHeader(path string) error {
	_, md, err := safetensors.ReadHeader(path)
	if err != nil {
		return err
	}
	if md[MetaFormat] != Format {
		return fmt.Errorf("%s is not a run checkpoint (format %q)", path, md[MetaFormat])
	}
	return nil
}

// parseMetadata decodes a run checkpoint's header metadata.
func parseMetadata(path string, md map[string]string) (State, []byte, map[string]string, error) {
	if err := checkFormat(path, md); err != nil {
		return State{}, nil, nil, err
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader([]byte(md[MetaState])))
	if err := dec.Decode(&st); err != nil {
		return State{}, nil, nil, fmt.Errorf("checkpoints: %s: decoding the run state: %w", path, err)
	}
	flat := map[string]string{}
	if s := md[MetaConfigFlat]; s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &flat); err != nil {
			return State{}, nil, nil, fmt.Errorf("checkpoints: %s: decoding the flat config: %w", path, err)
		}
	}
	return st, []byte(md[MetaConfig]), flat, nil
}

// checkFormat tells a run checkpoint of this version from other files, naming what it found.
func checkFormat(path string, md map[string]string) error {
	switch f := md[MetaFormat]; {
	case f == Format:
		return nil
	case f == "sprint-run-checkpoint/1":
		return fmt.Errorf("checkpoints: %s was written by an older sprint (format %q, without sections and checksums); "+
			"resume it with the sprint version that wrote it, or start the run over", path, f)
	default:
		return fmt.Errorf("checkpoints: %s is not a run checkpoint (format %q, want %q)", path, f, Format)
	}
}

// Load reads a run checkpoint and verifies the checksum of every tensor and of the state: a
// damaged file is an error naming the tensor or metadata entry whose bytes changed.
func Load(path string) (*Checkpoint, error) {
	named, md, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: loading %s: %w", path, err)
	}
	if err := checkFormat(path, md); err != nil {
		return nil, err
	}
	if err := verifyChecksums(named, md); err != nil {
		return nil, fmt.Errorf("checkpoints: %s is damaged: %w", path, err)
	}
	st, cfg, flat, err := parseMetadata(path, md)
	if err != nil {
		return nil, err
	}
	for name := range named {
		g, _, _ := strings.Cut(name, "/")
		if !slices.Contains(st.Groups, g) {
			return nil, fmt.Errorf("checkpoints: %s: tensor %q belongs to no listed group %v", path, name, st.Groups)
		}
	}
	return &Checkpoint{State: st, Tensors: named, ConfigYAML: cfg, ConfigFlat: flat}, nil
}
