// Package testproc runs a test of the current test binary in a child process (the helper
// pattern of tests that kill or signal a process). It is for tests only.
package testproc

import (
	"io"
	"os"
	"os/exec"
	"testing"
)

// Value returns the value the parent gave env in a child started by Start, skipping t when
// there is none: the helper test run by itself is not a test (parent names the test it serves).
func Value(t testing.TB, env, parent string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		t.Skip("helper process for " + parent)
	}
	return v
}

// Start runs the test named helper (matched exactly, once) of this test binary in a child
// process whose environment adds env=value; the child's stderr is ours. It returns the
// started command and the child's standard output.
func Start(t testing.TB, helper, env, value string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+value)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}
