package npy

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestHeaderLayout(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, &Array{Shape: []int{3}, Data: []float64{1, 2.5, -3}}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if string(b[:6]) != "\x93NUMPY" || b[6] != 1 || b[7] != 0 {
		t.Fatalf("bad magic/version % x", b[:8])
	}
	hlen := int(binary.LittleEndian.Uint16(b[8:10]))
	if (10+hlen)%64 != 0 {
		t.Fatalf("data offset %d not 64-aligned", 10+hlen)
	}
	header := string(b[10 : 10+hlen])
	want := "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"
	if header[:len(want)] != want || header[hlen-1] != '\n' {
		t.Fatalf("header %q", header)
	}
	if len(b) != 10+hlen+24 {
		t.Fatalf("length %d", len(b))
	}
	if v := math.Float64frombits(binary.LittleEndian.Uint64(b[10+hlen+8:])); v != 2.5 {
		t.Fatalf("second value %v", v)
	}
}

func TestShapes(t *testing.T) {
	for _, shape := range [][]int{{}, {0}, {4}, {2, 3}, {2, 1, 2}} {
		a := &Array{Shape: shape}
		a.Data = make([]float64, a.Size())
		for i := range a.Data {
			a.Data[i] = float64(i) + 0.25
		}
		var buf bytes.Buffer
		if err := Write(&buf, a); err != nil {
			t.Fatal(err)
		}
		got, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Shape) != len(shape) || got.Size() != a.Size() {
			t.Fatalf("shape %v read back as %v", shape, got.Shape)
		}
		for i := range a.Data {
			if got.Data[i] != a.Data[i] {
				t.Fatalf("value %d", i)
			}
		}
	}
}

func rawNPY(descr string, fortran string, shape string, data []byte) []byte {
	dict := "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	b.WriteString(dict)
	b.Write(data)
	return b.Bytes()
}

func TestReadFortranAndFloat32(t *testing.T) {
	// 2x3 matrix [[1,2,3],[4,5,6]] stored column-major as float32.
	var data []byte
	for _, v := range []float32{1, 4, 2, 5, 3, 6} {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	a, err := Read(bytes.NewReader(rawNPY("<f4", "True", "(2, 3)", data)))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []float64{1, 2, 3, 4, 5, 6} {
		if a.Data[i] != w {
			t.Fatalf("got %v", a.Data)
		}
	}
	// Big-endian float64.
	data = binary.BigEndian.AppendUint64(nil, math.Float64bits(-7.5))
	a, err = Read(bytes.NewReader(rawNPY(">f8", "False", "(1,)", data)))
	if err != nil || a.Data[0] != -7.5 {
		t.Fatalf("big-endian: %v %v", a, err)
	}
	if _, err := Read(bytes.NewReader(rawNPY("|O", "False", "(1,)", nil))); err == nil {
		t.Fatal("object dtype accepted")
	}
}

func TestNPZRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.npz")
	mu := &Array{Shape: []int{2}, Data: []float64{0.5, -1}}
	sigma := &Array{Shape: []int{2, 2}, Data: []float64{2, 1, 1, 3}}
	if err := WriteNPZ(path, Named{"mu", mu}, Named{"sigma", sigma}); err != nil {
		t.Fatal(err)
	}
	// The archive must be stored (np.savez) with exactly these members.
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Fatalf("member %s compressed", f.Name)
		}
	}
	zr.Close()
	if len(names) != 2 || names[0] != "mu.npy" || names[1] != "sigma.npy" {
		t.Fatalf("members %v", names)
	}
	got, err := ReadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	if got["sigma"].Shape[1] != 2 || got["sigma"].Data[3] != 3 || got["mu"].Data[1] != -1 {
		t.Fatalf("got %+v %+v", got["mu"], got["sigma"])
	}
}

func TestReadCompressedNPZ(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, 6) })
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "mu.npy", Method: zip.Deflate})
	var member bytes.Buffer
	Write(&member, &Array{Shape: []int{3}, Data: []float64{1, 2, 3}})
	w.Write(member.Bytes())
	zw.Close()
	path := filepath.Join(t.TempDir(), "c.npz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNPZ(path)
	if err != nil || got["mu"].Data[2] != 3 {
		t.Fatalf("%v %v", got, err)
	}
}
