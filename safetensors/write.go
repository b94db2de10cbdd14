package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/atomicfile"
)

// Write writes named tensors and optional string metadata to w in the
// safetensors format. Tensors are laid out in sorted-name order, the header is padded
// with spaces to an 8-byte boundary, and "__metadata__" is omitted when metadata is empty.
// Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL.
func Write(w io.Writer, named map[string]*tensors.Tensor, metadata map[string]string) error {
	if !hostLittleEndian() {
		return fmt.Errorf("safetensors: writing on a big-endian host is not supported")
	}
	names := slices.Sorted(maps.Keys(named))
	header, err := encodeHeader(names, named, metadata)
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

// encodeHeader builds the padded JSON header for the tensors in names order.
func encodeHeader(names []string, named map[string]*tensors.Tensor, metadata map[string]string) ([]byte, error) {
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
		writeJSONString(&buf, metadataKey)
		buf.WriteString(":{")
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, k)
			buf.WriteByte(':')
			writeJSONString(&buf, metadata[k])
		}
		buf.WriteByte('}')
	}
	var offset int64
	for _, name := range names {
		t := named[name]
		switch {
		case name == "":
			return nil, fmt.Errorf("safetensors: empty tensor name")
		case name == metadataKey:
			return nil, fmt.Errorf("safetensors: tensor name %q is reserved", name)
		case t == nil:
			return nil, fmt.Errorf("safetensors: tensor %q is nil", name)
		}
		dtName, err := DTypeName(t.DType())
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		size := int64(t.Shape().ByteSize())
		sep()
		writeJSONString(&buf, name)
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

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	buf.Write(b)
}

func hostLittleEndian() bool {
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	return probe[0] == 1
}

// WriteFile writes named tensors to path atomically: it writes a temporary file
// in the same directory, fsyncs it, renames it over path and fsyncs the directory, so a
// crash leaves either the old file or the complete new one.
func WriteFile(path string, named map[string]*tensors.Tensor, metadata map[string]string) error {
	return atomicfile.Write(atomicfile.OS{}, path, func(w io.Writer) error {
		return Write(w, named, metadata)
	})
}
