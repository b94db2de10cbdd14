package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func panicsHere() { var m map[string]int; m["x"] = 1 }

func TestReportPanicNamesTheSite(t *testing.T) {
	var out bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				reportPanic(&out, r, debug.Stack())
			}
		}()
		panicsHere()
	}()
	got := out.String()
	for _, want := range []string{"internal error (please report): assignment to entry in nil map", "panicsHere (", "panic_test.go:10)", "SPRINT_DEBUG=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	t.Setenv(debugEnv, "1")
	out.Reset()
	reportPanic(&out, "boom", debug.Stack())
	if !strings.Contains(out.String(), "goroutine ") {
		t.Errorf("SPRINT_DEBUG=1 should print the stack:\n%s", out.String())
	}
}

// TestRecipeWithoutDataIsNotACrash runs a released recipe on a machine without its inputs:
// the message names what is missing, never an internal error.
func TestRecipeWithoutDataIsNotACrash(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runMain(t, "distill", "--config", "../../configs/sana_sprint_600m_1024px.yaml",
		"--set", "data.paths=["+dir+"/nowhere/*.parquet]", "--set", "train.run_dir="+dir)
	if code == 0 || code == 2 || strings.Contains(stderr, "internal error") || strings.Contains(stderr, "panic") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "nowhere") {
		t.Fatalf("the message should name the missing data:\n%s", stderr)
	}
}
