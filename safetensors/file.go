package safetensors

// File gives lazy, per-tensor access to one safetensors file as float32 values: the header is
// read at Open and each tensor on request, so a large weights file is never held whole.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/gomlx/gomlx/core/tensors"
)

// Entry describes one tensor in the header.
type Entry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// File is an open safetensors file.
type File struct {
	path      string
	f         *os.File
	entries   map[string]Entry
	dataStart int64
	dataLen   int64
}

// Open reads the header of path.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: reading header length: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n == 0 || n > maxHeaderLen || int64(n)+8 > st.Size() {
		f.Close()
		return nil, fmt.Errorf("%s: not a safetensors file (header length %d, file size %d)", path, n, st.Size())
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: reading header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: parsing header: %w", path, err)
	}
	file := &File{path: path, f: f, entries: map[string]Entry{}, dataStart: 8 + int64(n), dataLen: st.Size() - 8 - int64(n)}
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e Entry
		if err := json.Unmarshal(msg, &e); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		size, ok := dtypeSize(e.DType)
		if !ok {
			// Kept in the listing; reading it reports the dtype.
			file.entries[name] = e
			continue
		}
		count := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				f.Close()
				return nil, fmt.Errorf("%s: tensor %q has negative dimension %v", path, name, e.Shape)
			}
			count *= int64(d)
		}
		if e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1] > file.dataLen || e.Offsets[1]-e.Offsets[0] != count*int64(size) {
			f.Close()
			return nil, fmt.Errorf("%s: tensor %q: offsets %v do not fit shape %v of %s in %d data bytes",
				path, name, e.Offsets, e.Shape, e.DType, file.dataLen)
		}
		file.entries[name] = e
	}
	return file, nil
}

func dtypeSize(dt string) (int, bool) {
	switch dt {
	case "F32", "I32", "U32":
		return 4, true
	case "F16", "BF16", "I16", "U16":
		return 2, true
	case "F64", "I64", "U64":
		return 8, true
	case "I8", "U8", "BOOL":
		return 1, true
	}
	return 0, false
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Names lists the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.entries))
	for n := range f.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Entry returns the header entry of name.
func (f *File) Entry(name string) (Entry, bool) {
	e, ok := f.entries[name]
	return e, ok
}

// Float32 reads a floating-point tensor (F32, F16, BF16 or F64) as float32 values; NaN or ±Inf
// in it is a *NonFiniteError.
func (f *File) Float32(name string) ([]float32, []int, error) {
	e, ok := f.entries[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no tensor %q", f.path, name)
	}
	buf := make([]byte, e.Offsets[1]-e.Offsets[0])
	if _, err := f.f.ReadAt(buf, f.dataStart+e.Offsets[0]); err != nil {
		return nil, nil, fmt.Errorf("%s: reading %q: %w", f.path, name, err)
	}
	var out []float32
	switch e.DType {
	case "F32":
		out = make([]float32, len(buf)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
	case "F64":
		out = make([]float32, len(buf)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:])))
		}
	case "BF16":
		out = make([]float32, len(buf)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(buf[2*i:])) << 16)
		}
	case "F16":
		out = make([]float32, len(buf)/2)
		for i := range out {
			out[i] = halfToFloat(binary.LittleEndian.Uint16(buf[2*i:]))
		}
	default:
		return nil, nil, fmt.Errorf("%s: tensor %q has dtype %s, want a floating-point dtype", f.path, name, e.DType)
	}
	if err := checkFiniteFloat32(f.path, name, out); err != nil {
		return nil, nil, err
	}
	return out, append([]int(nil), e.Shape...), nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		v := float32(frac) / 1024 / 16384
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

// Float32Tensor is one float32 tensor to write with WriteFloat32File.
type Float32Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// WriteFloat32File writes float32 tensors to path as F32 (atomically, through WriteFile).
func WriteFloat32File(path string, ts []Float32Tensor) error {
	named := make(map[string]*tensors.Tensor, len(ts))
	for _, t := range ts {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("writing %s: tensor %q has %d values for shape %v", path, t.Name, len(t.Data), t.Shape)
		}
		if _, dup := named[t.Name]; dup {
			return fmt.Errorf("writing %s: tensor %q given twice", path, t.Name)
		}
		named[t.Name] = tensors.FromFlatDataAndDimensions(slices.Clone(t.Data), t.Shape...)
	}
	return WriteFile(path, named, nil)
}

// OpenWeights opens the weights file of a network; what names it in errors ("CLIP weights") and a
// missing file's error ends with help, which says where users get it.
func OpenWeights(path, what, help string) (*File, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s %q not found. %s", what, path, help)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	f, err := Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return f, nil
}
