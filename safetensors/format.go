package safetensors

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
	"fmt"

	"github.com/gomlx/compute/dtypes"
)

// metadataKey is the reserved header entry holding free-form string metadata.
const metadataKey = "__metadata__"

// maxHeaderLen bounds the JSON header size accepted when reading (the reference
// implementation uses the same 100 MB limit).
const maxHeaderLen = 100 << 20

// dtypeNames maps the GoMLX dtypes this package stores to safetensors' dtype names.
var dtypeNames = map[dtypes.DType]string{
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

// DTypeName returns the safetensors name of a GoMLX dtype ("F32", "BF16", ...),
// or an error if the format cannot store it.
func DTypeName(dt dtypes.DType) (string, error) {
	name, ok := dtypeNames[dt]
	if !ok {
		return "", fmt.Errorf("dtype %s cannot be stored in safetensors", dt)
	}
	return name, nil
}

// dtypeFromName is the inverse of DTypeName.
func dtypeFromName(name string) (dtypes.DType, bool) {
	for dt, n := range dtypeNames {
		if n == name {
			return dt, true
		}
	}
	return dtypes.InvalidDType, false
}
