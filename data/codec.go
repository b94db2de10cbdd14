package data

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
)

// Tensor values are stored as little-endian bytes in row-major order. These helpers convert between
// the stored bytes and host slices, and report the first non-finite value (NaN or ±Inf): stored
// values must be finite.

// encodeFloat32 appends values stored as dt to dst.
func encodeFloat32(dst []byte, values []float32, dt dtypes.DType) []byte {
	n := len(dst)
	dst = growBytes(dst, len(values)*dt.Size())
	out := dst[n:]
	switch dt {
	case dtypes.Float32:
		for i, v := range values {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case dtypes.Float16:
		for i, v := range values {
			binary.LittleEndian.PutUint16(out[2*i:], float16.FromFloat32(v).Bits())
		}
	case dtypes.BFloat16:
		for i, v := range values {
			binary.LittleEndian.PutUint16(out[2*i:], bfloat16.FromFloat32(v).Bits())
		}
	}
	return dst
}

func growBytes(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*len(b)+n)
	copy(nb, b)
	return nb
}

// firstNonFiniteFloat32 returns the index of the first NaN or ±Inf in values, or -1.
func firstNonFiniteFloat32(values []float32) int {
	for i, v := range values {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// firstNonFinite returns the index of the first non-finite element of raw (stored as dt), or -1.
func firstNonFinite(raw []byte, dt dtypes.DType) int {
	switch dt {
	case dtypes.Float32:
		n := len(raw) / 4
		for i := 0; i < n; i++ {
			if binary.LittleEndian.Uint32(raw[4*i:])&0x7f800000 == 0x7f800000 {
				return i
			}
		}
	case dtypes.Float16:
		n := len(raw) / 2
		for i := 0; i < n; i++ {
			if binary.LittleEndian.Uint16(raw[2*i:])&0x7c00 == 0x7c00 {
				return i
			}
		}
	case dtypes.BFloat16:
		n := len(raw) / 2
		for i := 0; i < n; i++ {
			if binary.LittleEndian.Uint16(raw[2*i:])&0x7f80 == 0x7f80 {
				return i
			}
		}
	}
	return -1
}

// decodeToFloat32 converts raw (stored as dt) into dst (len(dst) == len(raw)/dt.Size()) and returns
// the index of the first non-finite value, or -1.
func decodeToFloat32(dst []float32, raw []byte, dt dtypes.DType) int {
	bad := -1
	switch dt {
	case dtypes.Float32:
		for i := range dst {
			u := binary.LittleEndian.Uint32(raw[4*i:])
			if u&0x7f800000 == 0x7f800000 && bad < 0 {
				bad = i
			}
			dst[i] = math.Float32frombits(u)
		}
	case dtypes.Float16:
		for i := range dst {
			u := binary.LittleEndian.Uint16(raw[2*i:])
			if u&0x7c00 == 0x7c00 && bad < 0 {
				bad = i
			}
			dst[i] = float16.Float16(u).Float32()
		}
	case dtypes.BFloat16:
		for i := range dst {
			u := binary.LittleEndian.Uint16(raw[2*i:])
			if u&0x7f80 == 0x7f80 && bad < 0 {
				bad = i
			}
			dst[i] = math.Float32frombits(uint32(u) << 16)
		}
	}
	return bad
}

// decodeInto writes raw (stored as src) into the element range of flat (a []float32, []float16.Float16
// or []bfloat16.BFloat16 tensor buffer) starting at element offset off. It returns the index of the first
// non-finite value, or -1.
func decodeInto(flat any, off int, raw []byte, src dtypes.DType) (int, error) {
	n := len(raw) / src.Size()
	switch dst := flat.(type) {
	case []float32:
		return decodeToFloat32(dst[off:off+n], raw, src), nil
	case []float16.Float16:
		out := dst[off : off+n]
		if src == dtypes.Float16 {
			bad := -1
			for i := range out {
				u := binary.LittleEndian.Uint16(raw[2*i:])
				if u&0x7c00 == 0x7c00 && bad < 0 {
					bad = i
				}
				out[i] = float16.Float16(u)
			}
			return bad, nil
		}
		tmp := make([]float32, n)
		bad := decodeToFloat32(tmp, raw, src)
		for i, v := range tmp {
			out[i] = float16.FromFloat32(v)
		}
		return bad, nil
	case []bfloat16.BFloat16:
		out := dst[off : off+n]
		if src == dtypes.BFloat16 {
			bad := -1
			for i := range out {
				u := binary.LittleEndian.Uint16(raw[2*i:])
				if u&0x7f80 == 0x7f80 && bad < 0 {
					bad = i
				}
				out[i] = bfloat16.BFloat16(u)
			}
			return bad, nil
		}
		tmp := make([]float32, n)
		bad := decodeToFloat32(tmp, raw, src)
		for i, v := range tmp {
			out[i] = bfloat16.FromFloat32(v)
		}
		return bad, nil
	}
	return -1, fmt.Errorf("unsupported output buffer %T", flat)
}
