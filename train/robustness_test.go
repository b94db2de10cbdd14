package train

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sprint-distill/sprint/checkpoints"
)

func TestRunFolderLock(t *testing.T) {
	dir := t.TempDir()
	l, stale, err := lockRunDir(dir)
	if err != nil || stale != nil {
		t.Fatalf("first lock: %v %v", stale, err)
	}
	// A second holder (another open file description, as another process has) is refused,
	// and the message names the holder.
	_, _, err = lockRunDir(dir)
	if err == nil || !strings.Contains(err.Error(), "is in use by pid "+itoa(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	l.unlock()
	if l2, _, err := lockRunDir(dir); err != nil {
		t.Fatalf("after unlock: %v", err)
	} else {
		l2.unlock()
	}
	// A lock file left by a process that is gone is stale: taken over, the old holder reported.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` command")
	}
	dead := Holder{PID: cmd.Process.Pid, Host: "h", Command: "sprint distill", Since: time.Now()}
	b, _ := json.Marshal(dead)
	if err := os.WriteFile(filepath.Join(dir, LockName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	l3, stale, err := lockRunDir(dir)
	if err != nil || stale == nil || stale.PID != dead.PID {
		t.Fatalf("stale lock: %+v %v", stale, err)
	}
	l3.unlock()
}

func TestSecondRunOnSameFolderRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	r1, err := NewRun(context.Background(), tinyOptions(t, dir, cfg, &fakeSource{nanAt: -1}))
	if err != nil {
		t.Fatal(err)
	}
	opts := tinyOptions(t, dir, cfg, &fakeSource{nanAt: -1})
	opts.Resume = "auto"
	if _, err := NewRun(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "is in use by pid") {
		t.Fatalf("second run: %v", err)
	}
	if _, err := r1.Execute(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Once the first run has ended, the folder is free again.
	r3, err := NewRun(context.Background(), opts)
	if err != nil {
		t.Fatalf("after the first run: %v", err)
	}
	r3.closeFiles()
}

// TestTimeBudgetShorterThanStartup: even when the budget is spent before the first step (a
// long compile), each launch makes at least one step.
func TestTimeBudgetShorterThanStartup(t *testing.T) {
	cfg := tinyConfig()
	cfg.MaxHours = 0.001
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := tinyOptions(t, t.TempDir(), cfg, &fakeSource{nanAt: -1})
	opts.Clock = func() time.Time { now = now.Add(time.Hour); return now }
	res, _, err := runTiny(t, context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeTimeBudget || res.GlobalStep != 1 {
		t.Fatalf("result %+v, want a time-budget stop after exactly one step", res)
	}
}

func TestStatusDied(t *testing.T) {
	host, _ := os.Hostname()
	now := time.Now()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` command")
	}
	gone := Status{State: "running", PID: cmd.Process.Pid, Host: host, UpdatedAt: now, GlobalStep: 7}
	if died, why := gone.Died(now); !died || !strings.Contains(why, "killed") {
		t.Fatalf("gone process: %v %q", died, why)
	}
	alive := Status{State: "running", PID: os.Getpid(), Host: host, UpdatedAt: now}
	if died, _ := alive.Died(now.Add(time.Hour)); died {
		t.Fatal("a live local process is not dead")
	}
	remote := Status{State: "running", PID: 1, Host: "elsewhere", UpdatedAt: now}
	if died, _ := remote.Died(now.Add(time.Minute)); died {
		t.Fatal("a recent remote heartbeat is alive")
	}
	if died, why := remote.Died(now.Add(10 * time.Minute)); !died || !strings.Contains(why, "no heartbeat") {
		t.Fatalf("stale remote: %v %q", died, why)
	}
	if died, _ := (Status{State: "completed"}).Died(now); died {
		t.Fatal("a finished run is not dead")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestExtendMaxStepsOnResume: a finished run with a constant schedule continues to a larger
// train.max_steps; with a cosine schedule (sized by max_steps) the change is refused with why.
func TestExtendMaxStepsOnResume(t *testing.T) {
	for _, sched := range []string{"constant", "cosine"} {
		t.Run(sched, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyConfig()
			cfg.LRSchedule.Type = sched
			cfg.MaxSteps = 4
			if _, _, err := runTiny(t, context.Background(), tinyOptions(t, dir, cfg, &fakeSource{nanAt: -1})); err != nil {
				t.Fatal(err)
			}
			cfg.MaxSteps = 6
			opts := tinyOptions(t, dir, cfg, &fakeSource{nanAt: -1})
			opts.Resume = "latest"
			res, _, err := runTiny(t, context.Background(), opts)
			if sched == "cosine" {
				if err == nil || !strings.Contains(err.Error(), "train.max_steps changed from 4 to 6") || !strings.Contains(err.Error(), "cosine learning-rate schedule is sized by it") ||
					!strings.Contains(err.Error(), "--allow-config-change") {
					t.Fatalf("cosine: %v", err)
				}
				return
			}
			if err != nil || res.Outcome != OutcomeCompleted || res.GlobalStep != 6 {
				t.Fatalf("constant: %+v %v", res, err)
			}
		})
	}
}

// TestResumeFallsBackBitwise: with the newest checkpoint damaged (a flipped byte) and the
// `latest` pointer corrupt, resume warns, continues from the newest good checkpoint and ends
// bitwise where an uninterrupted run does.
func TestResumeFallsBackBitwise(t *testing.T) {
	cfg := tinyConfig()
	cfg.CheckpointEvery, cfg.KeepLast = 2, 5
	_, ref, err := runTiny(t, context.Background(), tinyOptions(t, t.TempDir(), cfg, &fakeSource{nanAt: 4}))
	if err != nil {
		t.Fatal(err)
	}
	want := groupDigests(t, ref.Groups())

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res1, _, err := runTiny(t, ctx, tinyOptions(t, dir, cfg, &fakeSource{nanAt: 4, cancel: cancel, cancelAfter: 7}))
	if err != nil || res1.Outcome != OutcomeInterrupted {
		t.Fatalf("first part: %+v %v", res1, err)
	}
	b, err := os.ReadFile(res1.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-5] ^= 0x40
	if err := os.WriteFile(res1.Checkpoint, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checkpoints", checkpoints.LatestName), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	opts := tinyOptions(t, dir, cfg, &fakeSource{nanAt: 4})
	opts.Resume, opts.Console = "latest", &log
	opts.Log.Console = true
	res2, r2, err := runTiny(t, context.Background(), opts)
	if err != nil || res2.Outcome != OutcomeCompleted {
		t.Fatalf("resume: %+v %v", res2, err)
	}
	for _, w := range []string{"is damaged", filepath.Base(res1.Checkpoint) + " cannot be used", "resuming from the older checkpoint"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("resume log lacks %q:\n%s", w, log.String())
		}
	}
	got := groupDigests(t, r2.Groups())
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s differs after resuming from the older checkpoint", k)
		}
	}
}
