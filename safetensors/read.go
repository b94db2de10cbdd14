package safetensors

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/go-huggingface/hub"
	hfst "github.com/gomlx/go-huggingface/models/safetensors"
	"github.com/gomlx/gomlx/core/tensors"
)

// ReadFile reads every tensor of a local safetensors file into host memory,
// with the file's "__metadata__" strings. Tensors keep their stored dtype.
func ReadFile(path string) (map[string]*tensors.Tensor, map[string]string, error) {
	return collect(path, forEachInFile)
}

// Info is one tensor's header entry, read without loading the data.
type Info struct {
	Name  string
	DType dtypes.DType
	Shape []int
}

// ReadHeader returns the tensors' names, dtypes and shapes (sorted by name)
// and the metadata of a safetensors file, reading only its header.
func ReadHeader(path string) ([]Info, map[string]string, error) {
	r, err := openReader(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	infos := make([]Info, 0, len(r.Header.Tensors))
	for _, name := range slices.Sorted(maps.Keys(r.Header.Tensors)) {
		meta := r.Header.Tensors[name]
		dt, _ := dtypeFromName(meta.Dtype) // validated by openReader
		infos = append(infos, Info{Name: name, DType: dt, Shape: slices.Clone(meta.Shape)})
	}
	md, err := headerMetadata(path, r.Header)
	if err != nil {
		return nil, nil, err
	}
	return infos, md, nil
}

// forEachInFile calls fn for each tensor of the file at path, in file-offset order,
// one at a time so the caller may convert and drop each before the next is read.
func forEachInFile(path string, fn func(name string, t *tensors.Tensor) error) (md map[string]string, err error) {
	r, err := openReader(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	md, err = headerMetadata(path, r.Header)
	if err != nil {
		return nil, err
	}
	names := slices.SortedFunc(maps.Keys(r.Header.Tensors), func(a, b string) int {
		return cmp.Compare(r.Header.Tensors[a].DataOffsets[0], r.Header.Tensors[b].DataOffsets[0])
	})
	for _, name := range names {
		t, err := readTensorSafely(r, name)
		if err != nil {
			return nil, fmt.Errorf("safetensors file %s: tensor %q: %w", path, name, err)
		}
		if err := fn(name, t); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// readTensorSafely reads one tensor into host memory, turning library panics into errors.
func readTensorSafely(r *hfst.TensorReader, name string) (t *tensors.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("%v", p)
		}
	}()
	return r.ReadTensor(nil, name)
}

// openReader opens path with go-huggingface's reader (as a file of a local
// repository rooted at its directory) and validates every header entry against the file
// size, so that a truncated or crafted file yields an error naming the tensor.
func openReader(path string) (r *hfst.TensorReader, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("safetensors file %s: is a directory", path)
	}
	if st.Size() < 8 {
		return nil, fmt.Errorf("safetensors file %s: %d bytes is too short for a header", path, st.Size())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors file: %w", err)
	}
	var lenBuf [8]byte
	_, err = io.ReadFull(f, lenBuf[:])
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("safetensors file %s: reading header length: %w", path, err)
	}
	headerLen := binary.LittleEndian.Uint64(lenBuf[:])
	if headerLen > maxHeaderLen || int64(headerLen) > st.Size()-8 {
		_ = f.Close()
		return nil, fmt.Errorf("safetensors file %s: header length %d does not fit a %d-byte file", path, headerLen, st.Size())
	}
	header := make([]byte, headerLen)
	_, err = io.ReadFull(f, header)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("safetensors file %s: reading the header: %w", path, err)
	}
	if err := checkHeaderFields(header); err != nil {
		return nil, fmt.Errorf("safetensors file %s: %w", path, err)
	}
	dataLen := st.Size() - 8 - int64(headerLen)

	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("safetensors file %s: %v", path, p)
		}
	}()
	repo := hub.NewLocal(filepath.Dir(path))
	r, err = hfst.NewEmpty(repo).NewTensorReader(filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("safetensors file %s: %w", path, err)
	}
	for name, meta := range r.Header.Tensors {
		if err := checkEntry(meta, dataLen); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("safetensors file %s: tensor %q: %w", path, name, err)
		}
	}
	return r, nil
}

// checkEntry validates one header entry: known dtype, non-negative shape, offsets inside
// the data section and matching the shape's byte size.
func checkEntry(meta *hfst.TensorMetadata, dataLen int64) error {
	dt, ok := dtypeFromName(meta.Dtype)
	if !ok {
		return fmt.Errorf("unsupported dtype %q", meta.Dtype)
	}
	elems := int64(1)
	for _, d := range meta.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", meta.Shape)
		}
		elems *= int64(d)
		if elems > dataLen*8+1 { // guards overflow: no shape can exceed the file anyway
			return fmt.Errorf("shape %v is larger than the file's %d data bytes", meta.Shape, dataLen)
		}
	}
	begin, end := meta.DataOffsets[0], meta.DataOffsets[1]
	if begin < 0 || end < begin || end > dataLen {
		return fmt.Errorf("data_offsets [%d, %d] outside the %d-byte data section", begin, end, dataLen)
	}
	if want := elems * int64(dt.Size()); end-begin != want {
		return fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but %s%v needs %d", begin, end, end-begin, meta.Dtype, meta.Shape, want)
	}
	return nil
}

func headerMetadata(path string, h *hfst.Header) (map[string]string, error) {
	md := make(map[string]string, len(h.Metadata))
	for k, v := range h.Metadata {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("safetensors file %s: __metadata__ value of %q is %T, not a string", path, k, v)
		}
		md[k] = s
	}
	return md, nil
}

// checkHeaderFields requires every tensor entry of the JSON header to hold exactly the
// format's three fields (dtype, shape, data_offsets), so that a damaged field name is an error
// rather than a silently defaulted value.
func checkHeaderFields(header []byte) error {
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil {
		return fmt.Errorf("header is not a JSON object: %w", err)
	}
	for name, raw := range entries {
		if name == metadataKey {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return fmt.Errorf("tensor %q: header entry is not a JSON object: %w", name, err)
		}
		for _, k := range []string{"dtype", "shape", "data_offsets"} {
			if _, ok := fields[k]; !ok {
				return fmt.Errorf("tensor %q: header entry has no %q field", name, k)
			}
		}
		if len(fields) != 3 {
			return fmt.Errorf("tensor %q: header entry has fields %v, want only dtype, shape and data_offsets", name, slices.Sorted(maps.Keys(fields)))
		}
	}
	return nil
}

// collect reads every tensor a forEach-style reader streams into one map.
func collect(path string, forEach func(string, func(string, *tensors.Tensor) error) (map[string]string, error)) (map[string]*tensors.Tensor, map[string]string, error) {
	named := make(map[string]*tensors.Tensor)
	md, err := forEach(path, func(name string, t *tensors.Tensor) error {
		named[name] = t
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return named, md, nil
}
