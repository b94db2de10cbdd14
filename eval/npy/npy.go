package npy

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Array is an n-dimensional array of float64 values in C (row-major) order.
type Array struct {
	Shape []int
	Data  []float64
}

// Size is the number of elements the shape describes.
func (a *Array) Size() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

var magic = []byte("\x93NUMPY")

func shapeString(shape []int) string {
	switch len(shape) {
	case 0:
		return "()"
	case 1:
		return fmt.Sprintf("(%d,)", shape[0])
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Write writes a as a version 1.0 .npy stream of little-endian float64 in C order.
func Write(w io.Writer, a *Array) error {
	if a.Size() != len(a.Data) {
		return fmt.Errorf("npy: shape %v needs %d values, have %d", a.Shape, a.Size(), len(a.Data))
	}
	for _, d := range a.Shape {
		if d < 0 {
			return fmt.Errorf("npy: negative dimension in shape %v", a.Shape)
		}
	}
	dict := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", shapeString(a.Shape))
	// magic(6) + version(2) + header length(2) + dict + padding + '\n' is a multiple of 64.
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	header := dict + strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("npy: header too long (%d bytes)", len(header))
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(magic)
	bw.Write([]byte{1, 0})
	binary.Write(bw, binary.LittleEndian, uint16(len(header)))
	bw.WriteString(header)
	var buf [8]byte
	for _, v := range a.Data {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
		if _, err := bw.Write(buf[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

var (
	descrRe   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	fortranRe = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	shapeRe   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// Read reads one .npy array and converts its values to float64.
func Read(r io.Reader) (*Array, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("npy: reading magic: %w", err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, errors.New("npy: not a .npy stream (bad magic)")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<24 {
			return nil, fmt.Errorf("npy: header length %d is implausible", hlen)
		}
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", pre[6], pre[7])
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("npy: reading header: %w", err)
	}
	h := string(hdr)
	dm, fm, sm := descrRe.FindStringSubmatch(h), fortranRe.FindStringSubmatch(h), shapeRe.FindStringSubmatch(h)
	if dm == nil || fm == nil || sm == nil {
		return nil, fmt.Errorf("npy: malformed header %q", strings.TrimSpace(h))
	}
	var shape []int
	for _, p := range strings.Split(sm[1], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		p = strings.TrimSuffix(p, "L")
		d, err := strconv.Atoi(p)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("npy: bad shape (%s)", sm[1])
		}
		shape = append(shape, d)
	}
	a := &Array{Shape: shape}
	n := a.Size()
	if n > 1<<28 {
		return nil, fmt.Errorf("npy: array of %d elements is too large", n)
	}
	conv, size, err := decoder(dm[1])
	if err != nil {
		return nil, err
	}
	raw := make([]byte, n*size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("npy: reading %d values: %w", n, err)
	}
	a.Data = make([]float64, n)
	for i := range a.Data {
		a.Data[i] = conv(raw[i*size:])
	}
	if fm[1] == "True" && len(shape) > 1 {
		a.Data = fortranToC(a.Data, shape)
	}
	return a, nil
}

func decoder(descr string) (func([]byte) float64, int, error) {
	if len(descr) < 3 {
		return nil, 0, fmt.Errorf("npy: unsupported dtype %q", descr)
	}
	var order binary.ByteOrder
	switch descr[0] {
	case '<', '|', '=':
		order = binary.LittleEndian
	case '>':
		order = binary.BigEndian
	default:
		return nil, 0, fmt.Errorf("npy: unsupported dtype %q", descr)
	}
	switch descr[1:] {
	case "f8":
		return func(b []byte) float64 { return math.Float64frombits(order.Uint64(b)) }, 8, nil
	case "f4":
		return func(b []byte) float64 { return float64(math.Float32frombits(order.Uint32(b))) }, 4, nil
	case "i8":
		return func(b []byte) float64 { return float64(int64(order.Uint64(b))) }, 8, nil
	case "i4":
		return func(b []byte) float64 { return float64(int32(order.Uint32(b))) }, 4, nil
	case "i2":
		return func(b []byte) float64 { return float64(int16(order.Uint16(b))) }, 2, nil
	case "u1", "b1":
		return func(b []byte) float64 { return float64(b[0]) }, 1, nil
	case "i1":
		return func(b []byte) float64 { return float64(int8(b[0])) }, 1, nil
	}
	return nil, 0, fmt.Errorf("npy: unsupported dtype %q", descr)
}

// fortranToC reorders column-major data into row-major order.
func fortranToC(data []float64, shape []int) []float64 {
	out := make([]float64, len(data))
	rank := len(shape)
	idx := make([]int, rank)
	// Column-major strides.
	fstr := make([]int, rank)
	s := 1
	for i := 0; i < rank; i++ {
		fstr[i] = s
		s *= shape[i]
	}
	for c := range out {
		f := 0
		for i := 0; i < rank; i++ {
			f += idx[i] * fstr[i]
		}
		out[c] = data[f]
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

// Named is one array of an archive.
type Named struct {
	Name  string // without the .npy suffix
	Array *Array
}

// WriteNPZ writes the arrays to path as an uncompressed zip of NAME.npy members (np.savez's layout),
// through a temporary file renamed into place.
func WriteNPZ(path string, arrays ...Named) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = writeNPZ(f, arrays)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func writeNPZ(w io.Writer, arrays []Named) error {
	zw := zip.NewWriter(w)
	seen := map[string]bool{}
	for _, na := range arrays {
		if na.Name == "" || seen[na.Name] {
			return fmt.Errorf("npz: empty or repeated member name %q", na.Name)
		}
		seen[na.Name] = true
		var buf bytes.Buffer
		if err := Write(&buf, na.Array); err != nil {
			return fmt.Errorf("npz member %s: %w", na.Name, err)
		}
		fh := &zip.FileHeader{
			Name:               na.Name + ".npy",
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(buf.Bytes()),
			CompressedSize64:   uint64(buf.Len()),
			UncompressedSize64: uint64(buf.Len()),
			Modified:           time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC),
		}
		mw, err := zw.CreateRaw(fh)
		if err != nil {
			return err
		}
		if _, err := mw.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return zw.Close()
}

// ReadNPZ reads every .npy member of an .npz archive, keyed by name without the .npy suffix.
func ReadNPZ(path string) (map[string]*Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer zr.Close()
	out := map[string]*Array{}
	for _, zf := range zr.File {
		if !strings.HasSuffix(zf.Name, ".npy") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("reading %s member %s: %w", path, zf.Name, err)
		}
		a, err := Read(bufio.NewReaderSize(rc, 1<<16))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s member %s: %w", path, zf.Name, err)
		}
		out[strings.TrimSuffix(zf.Name, ".npy")] = a
	}
	return out, nil
}

// ReadFile reads a single .npy file.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return a, nil
}

// WriteFile writes a single .npy file.
func WriteFile(path string, a *Array) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, a); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
