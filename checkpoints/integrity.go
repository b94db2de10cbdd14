package checkpoints

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
)

// crcTable is CRC-32C (Castagnoli), hardware-accelerated on amd64 and arm64: it detects every
// change confined to 32 consecutive bits, so any flipped byte of a tensor, at several GB/s.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Checksums is the content of MetaChecksums: CRC-32C (hex) of each tensor's raw bytes and of
// each other metadata value.
type Checksums struct {
	Tensors  map[string]string `json:"tensors"`
	Metadata map[string]string `json:"metadata"`
}

func crcHex(b []byte) string { return fmt.Sprintf("%08x", crc32.Checksum(b, crcTable)) }

// tensorCRC is the CRC-32C of a tensor's raw little-endian bytes.
func tensorCRC(t *tensors.Tensor) (string, error) {
	var sum uint32
	if err := t.ConstBytes(func(data []byte) { sum = crc32.Checksum(data, crcTable) }); err != nil {
		return "", err
	}
	return fmt.Sprintf("%08x", sum), nil
}

// checksumsOf returns the MetaChecksums value for tensors and the metadata entries in md.
func checksumsOf(named map[string]*tensors.Tensor, md map[string]string) (string, error) {
	c := Checksums{Tensors: make(map[string]string, len(named)), Metadata: make(map[string]string, len(md))}
	for name, t := range named {
		sum, err := tensorCRC(t)
		if err != nil {
			return "", fmt.Errorf("checksum of tensor %q: %w", name, err)
		}
		c.Tensors[name] = sum
	}
	for k, v := range md {
		if k != MetaChecksums {
			c.Metadata[k] = crcHex([]byte(v))
		}
	}
	b, err := json.Marshal(c)
	return string(b), err
}

// verifyChecksums checks every tensor and metadata value against MetaChecksums, naming each
// that differs, is missing or is not listed.
func verifyChecksums(named map[string]*tensors.Tensor, md map[string]string) error {
	sums := make(map[string]string, len(named))
	for name, t := range named {
		sum, err := tensorCRC(t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		sums[name] = sum
	}
	return verifySums(sums, md)
}

// verifySums checks tensor CRCs computed by the caller (sums, by tensor name) and the metadata.
func verifySums(sums map[string]string, md map[string]string) error {
	raw, ok := md[MetaChecksums]
	if !ok {
		return fmt.Errorf("no %s entry in its header", MetaChecksums)
	}
	var c Checksums
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Tensors == nil || c.Metadata == nil {
		return fmt.Errorf("its %s entry is unreadable (%v)", MetaChecksums, err)
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(sums)) {
		want, ok := c.Tensors[name]
		if !ok {
			errs = append(errs, fmt.Errorf("tensor %q has no checksum", name))
			continue
		}
		if got := sums[name]; got != want {
			errs = append(errs, fmt.Errorf("tensor %q: checksum %s, want %s (its bytes changed after it was saved)", name, got, want))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Tensors)) {
		if _, ok := sums[name]; !ok {
			errs = append(errs, fmt.Errorf("tensor %q is listed in the checksums but missing", name))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		if _, ok := c.Metadata[k]; !ok && k != MetaChecksums {
			errs = append(errs, fmt.Errorf("metadata %q has no checksum", k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Metadata)) {
		v, ok := md[k]
		if !ok {
			errs = append(errs, fmt.Errorf("metadata %q is missing", k))
		} else if got := crcHex([]byte(v)); got != c.Metadata[k] {
			errs = append(errs, fmt.Errorf("metadata %q: checksum %s, want %s (the run state or config changed after saving)", k, got, c.Metadata[k]))
		}
	}
	return errors.Join(errs...)
}

// LoadLatest loads the newest checkpoint of the checkpoints folder dir that reads back and
// verifies, trying older ones when the newest is damaged. warn receives one line per problem
// (a damaged `latest` pointer, a damaged checkpoint and the fallback taken). It returns
// ErrNoCheckpoint only when dir holds no checkpoint file; when files exist but none loads it
// is an error listing each, so that a run never starts over silently.
func LoadLatest(dir string, warn func(string)) (*Checkpoint, string, error) {
	if warn == nil {
		warn = func(string) {}
	}
	names, err := list(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("checkpoints: listing %s: %w", dir, err)
	}
	pointed := ""
	if b, err := os.ReadFile(filepath.Join(dir, LatestName)); err == nil {
		name := strings.TrimSpace(string(b))
		if _, ok := stepOf(name); !ok || filepath.Base(name) != name {
			warn(fmt.Sprintf("warning: %s is damaged (it holds %q, not a checkpoint file name); looking for the newest good checkpoint instead",
				filepath.Join(dir, LatestName), truncateForMessage(string(b))))
		} else if !slices.Contains(names, name) {
			warn(fmt.Sprintf("warning: %s names %s, which does not exist; looking for the newest good checkpoint instead",
				filepath.Join(dir, LatestName), name))
		} else {
			pointed = name
		}
	} else if len(names) > 0 && errors.Is(err, os.ErrNotExist) {
		warn(fmt.Sprintf("warning: %s is missing; using the newest good checkpoint", filepath.Join(dir, LatestName)))
	}
	if len(names) == 0 {
		return nil, "", fmt.Errorf("checkpoints: %s: %w", dir, ErrNoCheckpoint)
	}
	// Newest first, the pointed-to file before any newer stray file.
	order := slices.Clone(names)
	slices.Reverse(order)
	if pointed != "" {
		order = append([]string{pointed}, slices.DeleteFunc(order, func(n string) bool { return n == pointed })...)
	}
	var failures []error
	for i, name := range order {
		p := filepath.Join(dir, name)
		c, err := Load(p)
		if err == nil {
			if i > 0 {
				warn(fmt.Sprintf("warning: resuming from the older checkpoint %s instead", p))
			}
			return c, p, nil
		}
		failures = append(failures, err)
		warn(fmt.Sprintf("warning: checkpoint %s cannot be used: %v", p, err))
	}
	return nil, "", fmt.Errorf("checkpoints: %s holds %d checkpoint file(s) but none loads; fix or remove them "+
		"(or pass --resume with a checkpoint from elsewhere) rather than start over: %w", dir, len(order), errors.Join(failures...))
}

// LoadRef loads the checkpoint a --resume argument names: "latest" is the newest good
// checkpoint of checkpointsDir (LoadLatest); a folder is searched the same way (a checkpoints
// folder, or a run folder holding one); anything else is a checkpoint file, loaded and verified.
func LoadRef(ref, checkpointsDir string, warn func(string)) (*Checkpoint, string, error) {
	if ref == "latest" {
		return LoadLatest(checkpointsDir, warn)
	}
	fi, err := os.Stat(ref)
	if err != nil {
		return nil, "", fmt.Errorf("checkpoints: resume from %q: %w", ref, err)
	}
	if fi.IsDir() {
		if sub := filepath.Join(ref, "checkpoints"); isDir(sub) {
			return LoadLatest(sub, warn)
		}
		return LoadLatest(ref, warn)
	}
	c, err := Load(ref)
	return c, ref, err
}

// FolderOf returns the checkpoints folder a path names: <path>/checkpoints for a run folder,
// else path itself.
func FolderOf(path string) string {
	if sub := filepath.Join(path, "checkpoints"); isDir(sub) {
		return sub
	}
	return path
}

func truncateForMessage(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
