package checkpoints

// Safetensors reading and writing.
//
// File layout (https://github.com/huggingface/safetensors):
//
//	[8 bytes]  N, the header length, unsigned little-endian
//	[N bytes]  JSON header: {"__metadata__": {string: string}, "<name>": {"dtype": "F32",
//	           "shape": [..], "data_offsets": [begin, end]}, ...}, padded with spaces so
//	           that 8+N is a multiple of 8
//	[rest]     the tensors' raw little-endian bytes; data_offsets are relative to here
//
// The writer lays tensors out in sorted-name order, so the same map always gives the
// same bytes. Reading goes through go-huggingface's mmap reader (a plain local file is
// a one-file "local repository" there), after validating the header against the file.

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/go-huggingface/hub"
	"github.com/gomlx/go-huggingface/models/safetensors"
	"github.com/gomlx/gomlx/core/tensors"
)

// safetensorsMetadataKey is the reserved header entry holding free-form string metadata.
const safetensorsMetadataKey = "__metadata__"

// maxSafetensorsHeader bounds the JSON header size accepted when reading (the reference
// implementation uses the same 100 MB limit).
const maxSafetensorsHeader = 100 << 20

// safetensorsDTypes maps the GoMLX dtypes this package stores to safetensors' dtype names.
var safetensorsDTypes = map[dtypes.DType]string{
	dtypes.Float64:  "F64",
	dtypes.Float32:  "F32",
	dtypes.Float16:  "F16",
	dtypes.BFloat16: "BF16",
	dtypes.Int64:    "I64",
	dtypes.Int32:    "I32",
	dtypes.Int16:    "I16",
	dtypes.Int8:     "I8",
	dtypes.Uint64:   "U64",
	dtypes.Uint32:   "U32",
	dtypes.Uint16:   "U16",
	dtypes.Uint8:    "U8",
	dtypes.Bool:     "BOOL",
}

// SafetensorsDTypeName returns the safetensors name of a GoMLX dtype ("F32", "BF16", ...),
// or an error if the format cannot store it.
func SafetensorsDTypeName(dt dtypes.DType) (string, error) {
	name, ok := safetensorsDTypes[dt]
	if !ok {
		return "", fmt.Errorf("dtype %s cannot be stored in safetensors", dt)
	}
	return name, nil
}

// safetensorsDTypeFromName is the inverse of SafetensorsDTypeName.
func safetensorsDTypeFromName(name string) (dtypes.DType, bool) {
	for dt, n := range safetensorsDTypes {
		if n == name {
			return dt, true
		}
	}
	return dtypes.InvalidDType, false
}

// WriteSafetensors writes named tensors and optional string metadata to w in the
// safetensors format. Tensors are laid out in sorted-name order, the header is padded
// with spaces to an 8-byte boundary, and "__metadata__" is omitted when metadata is empty.
// Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL.
func WriteSafetensors(w io.Writer, named map[string]*tensors.Tensor, metadata map[string]string) error {
	if !safetensorsHostLittleEndian() {
		return fmt.Errorf("safetensors: writing on a big-endian host is not supported")
	}
	names := slices.Sorted(maps.Keys(named))
	header, err := safetensorsHeader(names, named, metadata)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := bw.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: writing header length: %w", err)
	}
	if _, err := bw.Write(header); err != nil {
		return fmt.Errorf("safetensors: writing header: %w", err)
	}
	for _, name := range names {
		t := named[name]
		if t.Size() == 0 {
			continue
		}
		var werr error
		if err := t.ConstBytes(func(data []byte) { _, werr = bw.Write(data) }); err != nil {
			return fmt.Errorf("safetensors: tensor %q: reading its data: %w", name, err)
		}
		if werr != nil {
			return fmt.Errorf("safetensors: tensor %q: writing its data: %w", name, werr)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: flushing: %w", err)
	}
	return nil
}

// safetensorsHeader builds the padded JSON header for the tensors in names order.
func safetensorsHeader(names []string, named map[string]*tensors.Tensor, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			buf.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		sep()
		writeSafetensorsJSONString(&buf, safetensorsMetadataKey)
		buf.WriteString(":{")
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeSafetensorsJSONString(&buf, k)
			buf.WriteByte(':')
			writeSafetensorsJSONString(&buf, metadata[k])
		}
		buf.WriteByte('}')
	}
	var offset int64
	for _, name := range names {
		t := named[name]
		switch {
		case name == "":
			return nil, fmt.Errorf("safetensors: empty tensor name")
		case name == safetensorsMetadataKey:
			return nil, fmt.Errorf("safetensors: tensor name %q is reserved", name)
		case t == nil:
			return nil, fmt.Errorf("safetensors: tensor %q is nil", name)
		}
		dtName, err := SafetensorsDTypeName(t.DType())
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		size := int64(t.Shape().ByteSize())
		sep()
		writeSafetensorsJSONString(&buf, name)
		buf.WriteString(`:{"dtype":"`)
		buf.WriteString(dtName)
		buf.WriteString(`","shape":[`)
		for i, d := range t.Shape().Dimensions {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		buf.WriteString(`],"data_offsets":[`)
		buf.WriteString(strconv.FormatInt(offset, 10))
		buf.WriteByte(',')
		buf.WriteString(strconv.FormatInt(offset+size, 10))
		buf.WriteString("]}")
		offset += size
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return buf.Bytes(), nil
}

func writeSafetensorsJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	buf.Write(b)
}

func safetensorsHostLittleEndian() bool {
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	return probe[0] == 1
}

// WriteSafetensorsFile writes named tensors to path atomically: it writes a temporary file
// in the same directory, fsyncs it, renames it over path and fsyncs the directory, so a
// crash leaves either the old file or the complete new one.
func WriteSafetensorsFile(path string, named map[string]*tensors.Tensor, metadata map[string]string) error {
	return atomicWrite(OSFS{}, path, func(w io.Writer) error {
		return WriteSafetensors(w, named, metadata)
	})
}

// ReadSafetensorsFile reads every tensor of a local safetensors file into host memory,
// with the file's "__metadata__" strings. Tensors keep their stored dtype.
func ReadSafetensorsFile(path string) (map[string]*tensors.Tensor, map[string]string, error) {
	named := make(map[string]*tensors.Tensor)
	metadata, err := forEachSafetensor(path, func(name string, t *tensors.Tensor) error {
		named[name] = t
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return named, metadata, nil
}

// SafetensorsInfo is one tensor's header entry, read without loading the data.
type SafetensorsInfo struct {
	Name  string
	DType dtypes.DType
	Shape []int
}

// ReadSafetensorsHeader returns the tensors' names, dtypes and shapes (sorted by name)
// and the metadata of a safetensors file, reading only its header.
func ReadSafetensorsHeader(path string) ([]SafetensorsInfo, map[string]string, error) {
	r, err := openSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	infos := make([]SafetensorsInfo, 0, len(r.Header.Tensors))
	for _, name := range slices.Sorted(maps.Keys(r.Header.Tensors)) {
		meta := r.Header.Tensors[name]
		dt, _ := safetensorsDTypeFromName(meta.Dtype) // validated by openSafetensors
		infos = append(infos, SafetensorsInfo{Name: name, DType: dt, Shape: slices.Clone(meta.Shape)})
	}
	md, err := safetensorsHeaderMetadata(path, r.Header)
	if err != nil {
		return nil, nil, err
	}
	return infos, md, nil
}

// forEachSafetensor calls fn for each tensor of the file at path, in file-offset order,
// one at a time so the caller may convert and drop each before the next is read.
func forEachSafetensor(path string, fn func(name string, t *tensors.Tensor) error) (md map[string]string, err error) {
	r, err := openSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	md, err = safetensorsHeaderMetadata(path, r.Header)
	if err != nil {
		return nil, err
	}
	names := slices.SortedFunc(maps.Keys(r.Header.Tensors), func(a, b string) int {
		return cmp.Compare(r.Header.Tensors[a].DataOffsets[0], r.Header.Tensors[b].DataOffsets[0])
	})
	for _, name := range names {
		t, err := readSafetensorSafely(r, name)
		if err != nil {
			return nil, fmt.Errorf("safetensors file %s: tensor %q: %w", path, name, err)
		}
		if err := fn(name, t); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// readSafetensorSafely reads one tensor into host memory, turning library panics into errors.
func readSafetensorSafely(r *safetensors.TensorReader, name string) (t *tensors.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("%v", p)
		}
	}()
	return r.ReadTensor(nil, name)
}

// openSafetensors opens path with go-huggingface's reader (as a file of a local
// repository rooted at its directory) and validates every header entry against the file
// size, so that a truncated or crafted file yields an error naming the tensor.
func openSafetensors(path string) (r *safetensors.TensorReader, err error) {
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
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("safetensors file %s: reading header length: %w", path, err)
	}
	headerLen := binary.LittleEndian.Uint64(lenBuf[:])
	if headerLen > maxSafetensorsHeader || int64(headerLen) > st.Size()-8 {
		return nil, fmt.Errorf("safetensors file %s: header length %d does not fit a %d-byte file", path, headerLen, st.Size())
	}
	dataLen := st.Size() - 8 - int64(headerLen)

	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("safetensors file %s: %v", path, p)
		}
	}()
	repo := hub.NewLocal(filepath.Dir(path))
	r, err = safetensors.NewEmpty(repo).NewTensorReader(filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("safetensors file %s: %w", path, err)
	}
	for name, meta := range r.Header.Tensors {
		if err := checkSafetensorsEntry(meta, dataLen); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("safetensors file %s: tensor %q: %w", path, name, err)
		}
	}
	return r, nil
}

// checkSafetensorsEntry validates one header entry: known dtype, non-negative shape, offsets inside
// the data section and matching the shape's byte size.
func checkSafetensorsEntry(meta *safetensors.TensorMetadata, dataLen int64) error {
	dt, ok := safetensorsDTypeFromName(meta.Dtype)
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

func safetensorsHeaderMetadata(path string, h *safetensors.Header) (map[string]string, error) {
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

// SafetensorsIndex is a sharded checkpoint's index (model.safetensors.index.json or
// diffusion_pytorch_model.safetensors.index.json): which shard file holds each tensor.
type SafetensorsIndex struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// ReadSafetensorsIndex parses a sharded checkpoint's index file. Shard names must be
// plain file names in the index's directory.
func ReadSafetensorsIndex(indexPath string) (*SafetensorsIndex, error) {
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("safetensors index: %w", err)
	}
	var idx SafetensorsIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("safetensors index %s: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors index %s: empty weight_map", indexPath)
	}
	for name, shard := range idx.WeightMap {
		if shard == "" || filepath.Base(shard) != shard || shard == "." || shard == ".." {
			return nil, fmt.Errorf("safetensors index %s: tensor %q: shard %q is not a file name in the index's directory", indexPath, name, shard)
		}
	}
	return &idx, nil
}

// Shards returns the index's shard file names, sorted.
func (idx *SafetensorsIndex) Shards() []string {
	set := make(map[string]bool)
	for _, s := range idx.WeightMap {
		set[s] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// ReadSafetensorsSharded reads all tensors of a sharded checkpoint through its index file,
// checking that every tensor sits in the shard the index names and that no shard holds a
// tensor the index does not list. Metadata of all shards is merged.
func ReadSafetensorsSharded(indexPath string) (map[string]*tensors.Tensor, map[string]string, error) {
	named := make(map[string]*tensors.Tensor)
	md, err := forEachShardedTensor(indexPath, func(name string, t *tensors.Tensor) error {
		named[name] = t
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return named, md, nil
}

func forEachShardedTensor(indexPath string, fn func(name string, t *tensors.Tensor) error) (map[string]string, error) {
	idx, err := ReadSafetensorsIndex(indexPath)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(indexPath)
	md := make(map[string]string)
	seen := make(map[string]bool, len(idx.WeightMap))
	for _, shard := range idx.Shards() {
		shardPath := filepath.Join(dir, shard)
		shardMD, err := forEachSafetensor(shardPath, func(name string, t *tensors.Tensor) error {
			if want, ok := idx.WeightMap[name]; !ok || want != shard {
				return fmt.Errorf("safetensors index %s: shard %s holds tensor %q, which the index maps to %q", indexPath, shard, name, want)
			}
			seen[name] = true
			return fn(name, t)
		})
		if err != nil {
			return nil, err
		}
		maps.Copy(md, shardMD)
	}
	for _, name := range slices.Sorted(maps.Keys(idx.WeightMap)) {
		if !seen[name] {
			return nil, fmt.Errorf("safetensors index %s: tensor %q is missing from shard %s", indexPath, name, idx.WeightMap[name])
		}
	}
	return md, nil
}

// ReadSafetensors reads a checkpoint given as a .safetensors file, a sharded index
// (*.index.json), or a directory holding one of diffusion_pytorch_model.safetensors,
// model.safetensors or their .index.json (diffusers' and transformers' names).
func ReadSafetensors(path string) (map[string]*tensors.Tensor, map[string]string, error) {
	named := make(map[string]*tensors.Tensor)
	md, err := ForEachTensor(path, func(name string, t *tensors.Tensor) error {
		named[name] = t
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return named, md, nil
}

// ForEachTensor streams the tensors of a checkpoint (same path forms as ReadSafetensors)
// to fn one at a time, so a large checkpoint can be converted without holding two copies.
func ForEachTensor(path string, fn func(name string, t *tensors.Tensor) error) (map[string]string, error) {
	file, sharded, err := ResolveSafetensorsPath(path)
	if err != nil {
		return nil, err
	}
	if sharded {
		return forEachShardedTensor(file, fn)
	}
	return forEachSafetensor(file, fn)
}

// ResolveSafetensorsPath turns a checkpoint path (file, index or directory) into the file
// to read and whether it is a sharded index.
func ResolveSafetensorsPath(path string) (file string, sharded bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", false, fmt.Errorf("checkpoint: %w", err)
	}
	if !st.IsDir() {
		return path, filepath.Ext(path) == ".json", nil
	}
	for _, base := range []string{"diffusion_pytorch_model", "model"} {
		single := filepath.Join(path, base+".safetensors")
		if safetensorsFileExists(single) {
			return single, false, nil
		}
		index := single + ".index.json"
		if safetensorsFileExists(index) {
			return index, true, nil
		}
	}
	return "", false, fmt.Errorf("checkpoint directory %s: no diffusion_pytorch_model.safetensors, model.safetensors or .index.json in it", path)
}

func safetensorsFileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
