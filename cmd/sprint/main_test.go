package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sprint-distill/sprint/internal/testfile"
)

// runMain runs the CLI in-process and returns its exit code, stdout and stderr.
// t may be nil (fixtures made outside a test). The pipes are drained while the CLI runs, so
// long outputs cannot block it.
func runMain(t *testing.T, args ...string) (int, string, string) {
	if t != nil {
		t.Helper()
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	rOut, wOut, _ := os.Pipe()
	rErr, wErr, _ := os.Pipe()
	os.Stdout, os.Stderr = wOut, wErr
	var out, errb bytes.Buffer
	done := make(chan struct{}, 2)
	go func() { _, _ = out.ReadFrom(rOut); done <- struct{}{} }()
	go func() { _, _ = errb.ReadFrom(rErr); done <- struct{}{} }()
	code := run(args)
	wOut.Close()
	wErr.Close()
	<-done
	<-done
	os.Stdout, os.Stderr = oldOut, oldErr
	return code, out.String(), errb.String()
}

// execute runs the root command in-process, without run's exit codes and crash report, and
// returns what it wrote to stdout and to stderr, and its error.
func execute(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}

func TestEnvReportsSIMD(t *testing.T) {
	var b bytes.Buffer
	if err := writeEnv(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	want := "simd          on"
	if !simdCompiled {
		want = "simd          OFF — WARNING"
	}
	for _, w := range []string{want, "gomlx         v0.28.16", "backend       Go Backend", "devices       1", "gomaxprocs"} {
		if !strings.Contains(out, w) {
			t.Errorf("sprint env lacks %q:\n%s", w, out)
		}
	}
}

func TestConfigVerbs(t *testing.T) {
	dir := t.TempDir()
	bad := testfile.Write(t, dir, "bad.yaml", "train:\n  max_step: 3\n")
	code, _, stderr := runMain(t, "config", "validate", bad)
	if code != 1 || !strings.Contains(stderr, "train.max_step") || !strings.Contains(stderr, "did you mean train.max_steps") {
		t.Fatalf("validate bad config: code %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := runMain(t, "config", "validate", filepath.Join("..", "..", "configs", "demo.yaml"))
	if code != 0 || !strings.Contains(stdout, "ok for distill (fingerprint") {
		t.Fatalf("validate demo.yaml: code %d %q %q", code, stdout, stderr)
	}
	out := filepath.Join(dir, "resolved.yaml")
	code, _, stderr = runMain(t, "config", "show", filepath.Join("..", "..", "configs", "demo.yaml"), "--set", "train.max_steps=7", "-o", out)
	if code != 0 {
		t.Fatalf("show: %d %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "max_steps: 7") || !strings.Contains(string(b), "teacher_weights: assets/teacher_shapes") {
		t.Fatalf("resolved config: %v\n%s", err, b)
	}
	// The written config loads back to the same fingerprint.
	_, a, _ := runMain(t, "config", "validate", out)
	_, c, _ := runMain(t, "config", "validate", filepath.Join("..", "..", "configs", "demo.yaml"), "--set", "train.max_steps=7")
	if fa, fc := a[strings.Index(a, "fingerprint"):], c[strings.Index(c, "fingerprint"):]; fa != fc {
		t.Fatalf("fingerprints differ: %q vs %q", a, c)
	}
	code, stdout, _ = runMain(t, "config", "keys")
	if code != 0 || !strings.Contains(stdout, "distill.tangent_warmup_steps") {
		t.Fatalf("keys: %d", code)
	}
	code, _, stderr = runMain(t, "distill")
	if code != 1 || !strings.Contains(stderr, "--config is required") {
		t.Fatalf("distill without config: %d %q", code, stderr)
	}
}
