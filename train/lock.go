package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockName is the lock file of a run folder: one process at a time trains in a run folder.
const LockName = "run.lock"

// Holder is who holds (or last held) a run folder's lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d on %s (%s) since %s", h.PID, h.Host, h.Command, h.Since.Format(time.RFC3339))
}

// runLock is a held run-folder lock: an exclusive flock on LockName, which the kernel releases
// when the process dies, so a lock left by a killed process is stale by construction; the
// file's content names the holder for the message a second process prints.
type runLock struct {
	f *os.File
}

// lockRunDir takes the lock of dir or returns an error naming the process that holds it.
// stale is the previous holder when its lock was left behind by a process that is gone.
func lockRunDir(dir string) (l *runLock, stale *Holder, err error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("run folder %s: opening its lock: %w", dir, err)
	}
	var prev *Holder
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		var h Holder
		if json.Unmarshal(b, &h) == nil {
			prev = &h
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if prev != nil {
				who = prev.String()
			}
			return nil, nil, fmt.Errorf("run folder %s is in use by %s; wait for it to finish or stop it (its lock is %s)", dir, who, path)
		}
		return nil, nil, fmt.Errorf("run folder %s: locking %s: %w", dir, path, err)
	}
	host, _ := os.Hostname()
	me := Holder{PID: os.Getpid(), Host: host, Command: strings.Join(os.Args, " "), Since: time.Now().UTC()}
	b, _ := json.Marshal(me)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	return &runLock{f: f}, prev, nil
}

// unlock releases the lock (closing the file releases the flock) and empties the holder.
func (l *runLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close()
	l.f = nil
}
