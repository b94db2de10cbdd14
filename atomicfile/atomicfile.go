package atomicfile

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FS is the file-system layer through which files are written atomically. OS is the real
// one; tests substitute an FS that fails or stalls at a chosen point to check that a failed
// or killed save never damages the last good file.
type FS interface {
	// MkdirAll creates dir and its parents.
	MkdirAll(dir string) error
	// CreateTemp creates a new file in dir whose name is pattern with "*" replaced by a random string.
	CreateTemp(dir, pattern string) (File, error)
	// Rename atomically replaces newpath by oldpath.
	Rename(oldpath, newpath string) error
	// Remove deletes a file.
	Remove(path string) error
	// SyncDir flushes a directory's entries (after a rename) to stable storage.
	SyncDir(dir string) error
}

// File is a file being written by an FS.
type File interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

// OS is the operating system's file system.
type OS struct{}

// MkdirAll implements FS.
func (OS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

// CreateTemp implements FS.
func (OS) CreateTemp(dir, pattern string) (File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// Rename implements FS.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove implements FS.
func (OS) Remove(path string) error { return os.Remove(path) }

// SyncDir implements FS.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// TempPattern is the name pattern of the temporary file written before renaming into path.
func TempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// Write writes path through fs: a temporary sibling file is written by write, fsynced,
// closed and renamed over path, and the directory is fsynced. On any error the temporary
// file is removed and path is untouched; a crash at any point leaves either the old file or
// the complete new one (plus, at worst, a stale temporary file matching TempPattern(path)).
func Write(fs FS, path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := fs.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return fmt.Errorf("writing %s: creating a temporary file: %w", path, err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = fs.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: fsync: %w", path, err)
	}
	closed = true
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: closing: %w", path, err)
	}
	if err = fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: renaming the temporary file into place: %w", path, err)
	}
	if err = fs.SyncDir(dir); err != nil {
		return fmt.Errorf("writing %s: fsync of its directory: %w", path, err)
	}
	return nil
}

// WriteJSON writes v to path through fs, as Write does, as JSON indented by two spaces with a
// final newline.
func WriteJSON(fs FS, path string, v any) error {
	return Write(fs, path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
