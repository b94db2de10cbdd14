package data

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"

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
	switch dt {
	case dtypes.Float32:
		if v, ok := u32View(raw); ok {
			copy(dst, unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(v))), len(v)))
			return firstNonFiniteBits(v, 0x7f800000)
		}
		return decodeWords(dst, raw, binary.LittleEndian.Uint32, 0x7f800000, math.Float32frombits)
	case dtypes.Float16:
		table := float16Table()
		if v, ok := u16View(raw); ok {
			v = v[:len(dst)]
			for i, u := range v {
				dst[i] = table[u]
			}
			return firstNonFiniteBits(v, 0x7c00)
		}
		return decodeWords(dst, raw, binary.LittleEndian.Uint16, 0x7c00, func(u uint16) float32 { return table[u] })
	case dtypes.BFloat16:
		if v, ok := u16View(raw); ok {
			return bf16ToFloat32(dst, v)
		}
		return decodeWords(dst, raw, binary.LittleEndian.Uint16, 0x7f80, func(u uint16) float32 { return math.Float32frombits(uint32(u) << 16) })
	}
	return -1
}

// decodeWords is the fallback of the decoders where raw cannot be viewed in place: it reads
// raw's little-endian words one by one, converts each into dst with conv, and returns the index
// of the first whose exponent bits (expMask) are all set, or -1.
func decodeWords[W uint16 | uint32, D any](dst []D, raw []byte, read func([]byte) W, expMask W, conv func(W) D) int {
	size := int(unsafe.Sizeof(expMask))
	bad := -1
	for i := range dst {
		u := read(raw[size*i:])
		if u&expMask == expMask && bad < 0 {
			bad = i
		}
		dst[i] = conv(u)
	}
	return bad
}

// bf16ToFloat32 widens src into dst, four at a time, and returns the first non-finite index or -1.
func bf16ToFloat32(dst []float32, src []uint16) int {
	src = src[:len(dst)]
	n := len(src) &^ 3
	bad := -1
	for i := 0; i < n; i += 4 {
		a, b, c, d := src[i], src[i+1], src[i+2], src[i+3]
		dst[i] = math.Float32frombits(uint32(a) << 16)
		dst[i+1] = math.Float32frombits(uint32(b) << 16)
		dst[i+2] = math.Float32frombits(uint32(c) << 16)
		dst[i+3] = math.Float32frombits(uint32(d) << 16)
		if max(a&0x7f80, b&0x7f80, c&0x7f80, d&0x7f80) == 0x7f80 && bad < 0 {
			bad = i + firstNonFiniteBits(src[i:i+4], 0x7f80)
		}
	}
	for i := n; i < len(src); i++ {
		dst[i] = math.Float32frombits(uint32(src[i]) << 16)
		if src[i]&0x7f80 == 0x7f80 && bad < 0 {
			bad = i
		}
	}
	return bad
}

// firstNonFiniteBits returns the index of the first value whose exponent bits (expMask) are
// all set, a NaN or ±Inf bit pattern, or -1.
func firstNonFiniteBits[T uint16 | uint32](v []T, expMask T) int {
	n := len(v) &^ 3
	for i := 0; i < n; i += 4 {
		if max(v[i]&expMask, v[i+1]&expMask, v[i+2]&expMask, v[i+3]&expMask) == expMask {
			for k := i; k < i+4; k++ {
				if v[k]&expMask == expMask {
					return k
				}
			}
		}
	}
	for i := n; i < len(v); i++ {
		if v[i]&expMask == expMask {
			return i
		}
	}
	return -1
}

var (
	f16TableOnce sync.Once
	f16Table     []float32
)

// float16Table maps every float16 bit pattern to its float32 value (256 KiB, built on first use).
func float16Table() []float32 {
	f16TableOnce.Do(func() {
		f16Table = make([]float32, 1<<16)
		for i := range f16Table {
			f16Table[i] = float16.Float16(i).Float32()
		}
	})
	return f16Table
}

// nativeLittleEndian is true on little-endian machines, where stored bytes can be viewed in place.
var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// u16View views b as uint16 values when the machine is little-endian and b is 2-byte aligned.
func u16View(b []byte) ([]uint16, bool) {
	if !nativeLittleEndian || len(b) < 2 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2), true
}

// u32View views b as uint32 values when the machine is little-endian and b is 4-byte aligned.
func u32View(b []byte) ([]uint32, bool) {
	if !nativeLittleEndian || len(b) < 4 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4), true
}

// decodeTo16 is decodeInto for a 16-bit float buffer out of dtype own (exponent bits expMask):
// raw stored as own is copied bit for bit, anything else goes through float32 and from32.
func decodeTo16[T ~uint16](out []T, raw []byte, src, own dtypes.DType, expMask uint16, from32 func(float32) T) int {
	if v, ok := u16View(raw); ok && src == own {
		copy(out, unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(v))), len(out)))
		return firstNonFiniteBits(v, expMask)
	}
	if src == own {
		return decodeWords(out, raw, binary.LittleEndian.Uint16, expMask, func(u uint16) T { return T(u) })
	}
	tmp := make([]float32, len(out))
	bad := decodeToFloat32(tmp, raw, src)
	for i, v := range tmp {
		out[i] = from32(v)
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
		return decodeTo16(dst[off:off+n], raw, src, dtypes.Float16, 0x7c00, float16.FromFloat32), nil
	case []bfloat16.BFloat16:
		return decodeTo16(dst[off:off+n], raw, src, dtypes.BFloat16, 0x7f80, bfloat16.FromFloat32), nil
	}
	return -1, fmt.Errorf("unsupported output buffer %T", flat)
}
