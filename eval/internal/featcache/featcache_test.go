package featcache

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResumeAfterPartialWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.cache")
	c, err := Open(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	c.Put("a", []float32{1, 2, 3})
	c.Put("b", []float32{4, 5, 6})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash in the middle of a third record.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{1, 0, 'c', 0, 0})
	f.Close()
	c, err = Open(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 {
		t.Fatalf("%d records", c.Len())
	}
	if v, ok := c.Get("b"); !ok || v[2] != 6 {
		t.Fatalf("b = %v", v)
	}
	c.Put("c", []float32{7, 8, 9})
	c.Close()
	c, _ = Open(path, 3)
	if v, ok := c.Get("c"); !ok || v[0] != 7 || c.Len() != 3 {
		t.Fatalf("after resume: %v %d", v, c.Len())
	}
	c.Close()
	if _, err := Open(path, 4); err == nil {
		t.Fatal("dimension mismatch accepted")
	}
	os.WriteFile(path, []byte("something else entirely"), 0o644)
	if _, err := Open(path, 3); err == nil {
		t.Fatal("foreign file accepted")
	}
}
