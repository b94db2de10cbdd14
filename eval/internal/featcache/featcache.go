package featcache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

var magic = []byte("SPRFEAT1")

// Cache is an open cache file.
type Cache struct {
	path string
	f    *os.File
	w    *bufio.Writer
	dim  int
	m    map[string][]float32
}

// Open opens or creates the cache at path for vectors of size dim.
func Open(path string, dim int) (*Cache, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("feature cache %s: dimension %d", path, dim)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	c := &Cache{path: path, f: f, dim: dim, m: map[string][]float32{}}
	good, err := c.load()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	c.w = bufio.NewWriterSize(f, 1<<16)
	if good == 0 {
		c.w.Write(magic)
		binary.Write(c.w, binary.LittleEndian, uint32(dim))
		if err := c.w.Flush(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return c, nil
}

// load reads complete records and returns the offset after the last one.
func (c *Cache) load() (int64, error) {
	r := bufio.NewReaderSize(c.f, 1<<16)
	head := make([]byte, len(magic)+4)
	n, err := io.ReadFull(r, head)
	if n == 0 && (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) {
		return 0, nil
	}
	if err != nil || string(head[:len(magic)]) != string(magic) {
		if n < len(head) && string(head[:n]) == string(magic[:min(n, len(magic))]) {
			return 0, nil // a header cut short: start over
		}
		return 0, fmt.Errorf("%s is not a feature cache", c.path)
	}
	if d := int(binary.LittleEndian.Uint32(head[len(magic):])); d != c.dim {
		return 0, fmt.Errorf("feature cache %s holds vectors of %d, want %d (delete it to start over)", c.path, d, c.dim)
	}
	off := int64(len(head))
	buf := make([]byte, 4*c.dim)
	for {
		var kl [2]byte
		if _, err := io.ReadFull(r, kl[:]); err != nil {
			return off, nil
		}
		key := make([]byte, binary.LittleEndian.Uint16(kl[:]))
		if _, err := io.ReadFull(r, key); err != nil {
			return off, nil
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return off, nil
		}
		v := make([]float32, c.dim)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		c.m[string(key)] = v
		off += int64(2 + len(key) + len(buf))
	}
}

// Len is the number of cached vectors.
func (c *Cache) Len() int { return len(c.m) }

// Get returns a cached vector.
func (c *Cache) Get(key string) ([]float32, bool) {
	v, ok := c.m[key]
	return v, ok
}

// Put appends a vector (buffered until Flush).
func (c *Cache) Put(key string, v []float32) error {
	if len(v) != c.dim {
		return fmt.Errorf("feature cache %s: vector of %d, want %d", c.path, len(v), c.dim)
	}
	if len(key) > math.MaxUint16 {
		return fmt.Errorf("feature cache %s: key too long", c.path)
	}
	var kl [2]byte
	binary.LittleEndian.PutUint16(kl[:], uint16(len(key)))
	c.w.Write(kl[:])
	c.w.WriteString(key)
	var b [4]byte
	for _, x := range v {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		if _, err := c.w.Write(b[:]); err != nil {
			return err
		}
	}
	c.m[key] = append([]float32(nil), v...)
	return nil
}

// Flush writes buffered records to the file.
func (c *Cache) Flush() error { return c.w.Flush() }

// Close flushes and closes.
func (c *Cache) Close() error {
	err := c.w.Flush()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	return err
}
