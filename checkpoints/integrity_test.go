package checkpoints

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryFlippedByteIsDetected flips each byte of a saved checkpoint in turn (tensor data,
// header, metadata, checksums) and requires Load to reject every one.
func TestEveryFlippedByteIsDetected(t *testing.T) {
	_, saved := saveSteps(t, t.TempDir(), 3, 3)
	path := saved[0]
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), FileName(3))
	undetected := 0
	for i := range orig {
		b := append([]byte(nil), orig...)
		b[i] ^= 0x01
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(bad); err == nil {
			undetected++
			t.Errorf("flipping byte %d of %d (%q) was not detected", i, len(orig), orig[i])
			if undetected > 5 {
				t.FailNow()
			}
		}
	}
	// A flip in tensor data names the tensor.
	b := append([]byte(nil), orig...)
	b[len(b)-1] ^= 0x80
	_ = os.WriteFile(bad, b, 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), `tensor "student/blocks.0.w"`) {
		t.Fatalf("data flip: %v", err)
	}
}

func TestLoadLatestFallsBackAndReports(t *testing.T) {
	dir := t.TempDir()
	_, paths := saveSteps(t, dir, 5, 2, 4, 6)
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }

	// Newest truncated: fall back to step 4, naming both.
	full, _ := os.ReadFile(paths[2])
	if err := os.WriteFile(paths[2], full[:len(full)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	c, p, err := LoadLatest(dir, warn)
	if err != nil || p != paths[1] || c.State.GlobalStep != 4 {
		t.Fatalf("fallback: %v %s %v", c, p, err)
	}
	joined := strings.Join(warnings, "\n")
	if !strings.Contains(joined, paths[2]+" cannot be used") || !strings.Contains(joined, "older checkpoint "+paths[1]) {
		t.Fatalf("warnings:\n%s", joined)
	}

	// A corrupt `latest` pointer is reported, and the newest good checkpoint still loads.
	warnings = nil
	if err := os.WriteFile(filepath.Join(dir, LatestName), []byte("\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, p, err := LoadLatest(dir, warn); err != nil || p != paths[1] {
		t.Fatalf("corrupt pointer: %s %v", p, err)
	}
	if joined := strings.Join(warnings, "\n"); !strings.Contains(joined, filepath.Join(dir, LatestName)+" is damaged") {
		t.Fatalf("pointer warning missing:\n%s", joined)
	}

	// Every checkpoint damaged: an error, never a silent fresh start.
	for _, p := range paths[:2] {
		b, _ := os.ReadFile(p)
		b[len(b)-1] ^= 0xff
		_ = os.WriteFile(p, b, 0o644)
	}
	_, _, err = LoadLatest(dir, nil)
	if err == nil || errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), "3 checkpoint file(s) but none loads") {
		t.Fatalf("all damaged: %v", err)
	}
	// An empty folder is ErrNoCheckpoint.
	if _, _, err := LoadLatest(t.TempDir(), nil); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("empty: %v", err)
	}
}
