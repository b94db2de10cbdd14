package checkpoints

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/safetensors"
)

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	Name  string       `json:"name"`
	DType dtypes.DType `json:"dtype"`
	Shape []int        `json:"shape"`
	// Digest is the sha256 (hex) of the tensor's raw little-endian bytes.
	Digest string `json:"sha256"`
}

// Report is what `sprint checkpoint inspect` shows of a run checkpoint.
type Report struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// State holds the global step and the components' resume sections.
	State State `json:"state"`
	// Integrity is "ok" when every checksum matched, else the problems found.
	Integrity string       `json:"integrity"`
	Tensors   []TensorInfo `json:"tensors"`
	// Digest is the sha256 over every tensor's name, dtype, shape and digest, in name order:
	// two checkpoints with equal digests hold bitwise-equal tensors.
	Digest string `json:"sha256"`
}

// TensorDigest returns the sha256 (hex) of a tensor's raw bytes.
func TensorDigest(t *tensors.Tensor) (string, error) {
	h := sha256.New()
	var werr error
	if err := t.ConstBytes(func(data []byte) { _, werr = h.Write(data) }); err != nil {
		return "", err
	}
	if werr != nil {
		return "", werr
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// DigestOf returns the combined digest of tensor descriptions (as Report.Digest).
func DigestOf(infos []TensorInfo) string {
	sorted := slices.Clone(infos)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	h := sha256.New()
	for _, ti := range sorted {
		fmt.Fprintf(h, "%s\t%s\t%v\t%s\n", ti.Name, ti.DType, ti.Shape, ti.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Inspect reads a run checkpoint one tensor at a time and describes it.
func Inspect(path string) (*Report, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: inspect: %w", err)
	}
	if fi.IsDir() {
		if path, err = Resolve(path, path); err != nil {
			return nil, err
		}
		if fi, err = os.Stat(path); err != nil {
			return nil, fmt.Errorf("checkpoints: inspect: %w", err)
		}
	}
	r := &Report{Path: path, Size: fi.Size()}
	crcs := map[string]string{}
	md, err := safetensors.ForEach(path, func(name string, t *tensors.Tensor) error {
		d, err := TensorDigest(t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		r.Tensors = append(r.Tensors, TensorInfo{Name: name, DType: t.DType(), Shape: slices.Clone(t.Shape().Dimensions), Digest: d})
		sum, err := tensorCRC(t) // streamed: the whole file is never held in memory
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		crcs[name] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints: inspect %s: %w", path, err)
	}
	if r.State, _, _, err = parseMetadata(path, md); err != nil {
		return nil, err
	}
	r.Integrity = "ok"
	if err := verifySums(crcs, md); err != nil {
		r.Integrity = "DAMAGED: " + err.Error()
	}
	sort.Slice(r.Tensors, func(i, j int) bool { return r.Tensors[i].Name < r.Tensors[j].Name })
	r.Digest = DigestOf(r.Tensors)
	return r, nil
}

// WriteText prints the report for people: counters, data position, then one line per tensor.
func (r *Report) WriteText(w io.Writer) error {
	st := r.State
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoint      %s (%d bytes)\n", r.Path, r.Size)
	fmt.Fprintf(&b, "digest          %s\n", r.Digest)
	fmt.Fprintf(&b, "integrity       %s\n", r.Integrity)
	fmt.Fprintf(&b, "global step     %d\n", st.GlobalStep)
	for _, name := range slices.Sorted(maps.Keys(st.Sections)) {
		fmt.Fprintf(&b, "%-15s %s\n", name, st.Sections[name])
	}
	fmt.Fprintf(&b, "config sha256   %s\n", st.ConfigFingerprint)
	fmt.Fprintf(&b, "saved at        %s\n", st.SavedAt.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(&b, "groups          %s\n", strings.Join(st.Groups, " "))
	fmt.Fprintf(&b, "tensors         %d\n\n", len(r.Tensors))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tSHA256")
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", t.Name, t.DType, t.Shape, t.Digest[:16])
	}
	return tw.Flush()
}
