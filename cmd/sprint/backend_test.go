package main

import (
	"strings"
	"testing"
)

// TestUnknownBackendIsNamed: a GOMLX_BACKEND that names no backend fails the verbs that open
// one (through the training verbs' memory setup too) with an error naming the variable and the
// value, not a crash.
func TestUnknownBackendIsNamed(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "nope")
	t.Setenv("GOMEMLIMIT", "off") // leave the test process's heap limit alone
	for _, args := range [][]string{
		{"bench", "--config", "../../configs/demo.yaml", "--only", "d_step"},
		{"distill", "--config", "../../configs/demo.yaml", "--set", "train.run_dir=" + t.TempDir()},
	} {
		code, _, stderr := runMain(t, args...)
		if code == 0 || !strings.Contains(stderr, `opening backend "nope" (GOMLX_BACKEND)`) || strings.Contains(stderr, "panic") {
			t.Errorf("sprint %s: exit %d, stderr %q; want an error naming GOMLX_BACKEND and its value", args[0], code, stderr)
		}
	}
}
