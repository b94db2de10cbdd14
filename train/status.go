package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Status is status.json in the run folder, rewritten at start and exit.
type Status struct {
	State      string    `json:"state"` // running, completed, interrupted, time_budget, failed
	GlobalStep int64     `json:"global_step"`
	MaxSteps   int64     `json:"max_steps"`
	Checkpoint string    `json:"checkpoint,omitempty"`
	Error      string    `json:"error,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func (r *Run) writeStatus(state string, runErr error) {
	st := Status{State: state, GlobalStep: r.c.global, MaxSteps: r.cfg.MaxSteps, Checkpoint: r.lastPath, UpdatedAt: time.Now().UTC()}
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
