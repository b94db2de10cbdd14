package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// HeartbeatEvery is how often a running run rewrites status.json, so that a run killed without
// a chance to write its exit state (out of memory, kill -9) is recognisable by its stale
// heartbeat and its process that is gone.
const HeartbeatEvery = 30 * time.Second

// Status is status.json in the run folder, rewritten at start, every HeartbeatEvery while
// running, and at exit.
type Status struct {
	State      string    `json:"state"` // running, completed, interrupted, time_budget, failed
	GlobalStep int64     `json:"global_step"`
	MaxSteps   int64     `json:"max_steps"`
	Checkpoint string    `json:"checkpoint,omitempty"`
	Error      string    `json:"error,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
	// PID and Host are the training process; StartedAt is when it started.
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	StartedAt time.Time `json:"started_at"`
}

// Died reports whether a status that says "running" belongs to a process that is gone: on this
// host its PID no longer exists, elsewhere its heartbeat is older than three periods. The
// reason names what was found (e.g. the process was killed for memory).
func (s Status) Died(now time.Time) (bool, string) {
	if s.State != "running" {
		return false, ""
	}
	host, _ := os.Hostname()
	if s.Host == host && s.PID > 0 && !processAlive(s.PID) {
		return true, fmt.Sprintf("process %d is gone without writing its exit state (killed, e.g. out of memory); last heartbeat %s at global step %d",
			s.PID, s.UpdatedAt.Format(time.RFC3339), s.GlobalStep)
	}
	if age := now.Sub(s.UpdatedAt); age > 3*HeartbeatEvery && s.Host != host {
		return true, fmt.Sprintf("no heartbeat from %s pid %d for %s (last at global step %d)", s.Host, s.PID, age.Round(time.Second), s.GlobalStep)
	}
	return false, ""
}

// processAlive reports whether a process with this PID exists on this host.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// heartbeat rewrites status.json when the last write is older than HeartbeatEvery.
func (r *Run) heartbeat() {
	if time.Since(r.lastBeat) >= HeartbeatEvery {
		r.writeStatus("running", nil)
	}
}

func (r *Run) writeStatus(state string, runErr error) {
	host, _ := os.Hostname()
	r.lastBeat = time.Now()
	st := Status{State: state, GlobalStep: r.c.global, MaxSteps: r.cfg.MaxSteps, Checkpoint: r.lastPath, UpdatedAt: r.lastBeat.UTC(),
		PID: os.Getpid(), Host: host, StartedAt: r.processStart.UTC()}
	if runErr != nil {
		st.Error = runErr.Error()
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := writeFileAtomic(filepath.Join(r.dir, "status.json"), append(b, '\n')); err != nil {
		r.logf("warning: writing status.json: %v", err)
	}
}

// writeFileAtomic writes a small file through a temporary sibling and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadStatus reads a run folder's status.json.
func ReadStatus(runDir string) (Status, error) {
	var st Status
	b, err := os.ReadFile(filepath.Join(runDir, "status.json"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(runDir, "status.json"), err)
	}
	return st, nil
}
