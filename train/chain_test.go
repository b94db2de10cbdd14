package train

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeTrainer writes a script that exits with the codes listed in codes (one per launch) and
// appends its arguments to a log; on SIGTERM it records it and exits 0.
func fakeTrainer(t *testing.T, codes string) (script, argLog string) {
	t.Helper()
	dir := t.TempDir()
	argLog = filepath.Join(dir, "args")
	script = filepath.Join(dir, "trainer.sh")
	body := `#!/usr/bin/env bash
n=0
[ -f "` + argLog + `" ] && n=$(wc -l < "` + argLog + `")
echo "run $*" >> "` + argLog + `"
codes=(` + codes + `)
code=${codes[$n]}
if [ "$code" = sleep ]; then
  trap 'echo TERM >> "` + argLog + `"; exit 0' TERM
  sleep 30 & wait
  exit 0
fi
exit "$code"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, argLog
}

func chainCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "scripts", "chain.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "CHAIN_RETRY_SLEEP=0")
	return cmd
}

func readArgs(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestChainScript checks scripts/chain.sh against the exit-code contract of Outcome.ExitCode.
func TestChainScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script, argLog := fakeTrainer(t, "75 1 75 0")
	out, err := chainCmd("--", script, "--config", "x.yaml").CombinedOutput()
	if exitCode(err) != 0 {
		t.Fatalf("chain exit %v\n%s", err, out)
	}
	want := []string{"run --config x.yaml", "run --config x.yaml --resume latest", "run --config x.yaml --resume auto", "run --config x.yaml --resume latest"}
	if got := readArgs(t, argLog); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("launches %q, want %q\n%s", got, want, out)
	}

	script, argLog = fakeTrainer(t, "1 2 1 0")
	out, err = chainCmd("--max-failures", "3", "--", script).CombinedOutput()
	if exitCode(err) != 1 || len(readArgs(t, argLog)) != 3 {
		t.Fatalf("three failures: exit %v, launches %q\n%s", err, readArgs(t, argLog), out)
	}

	script, _ = fakeTrainer(t, "75 75 75")
	if _, err = chainCmd("--max-runs", "2", "--", script).CombinedOutput(); exitCode(err) != 3 {
		t.Fatalf("max runs: exit %v", err)
	}
}

// TestChainScriptForwardsSignals: SIGTERM to chain.sh reaches the training command, and
// chain.sh does not relaunch it.
func TestChainScriptForwardsSignals(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script, argLog := fakeTrainer(t, "sleep 0")
	cmd := chainCmd("--", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(argLog); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the trainer did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the trainer install its trap
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if exitCode(err) != 143 {
		t.Fatalf("chain exit %v, want 143", err)
	}
	if got := readArgs(t, argLog); len(got) != 2 || got[1] != "TERM" {
		t.Fatalf("trainer log %q: want one launch that received SIGTERM", got)
	}
}
