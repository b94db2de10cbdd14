package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Reporter tracks one counted task.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	unit     string
	total    int
	done     int
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
}

// New starts reporting a task of total units (e.g. "images") to w; a nil w reports nothing.
func New(w io.Writer, label, unit string, total int) *Reporter {
	r := &Reporter{w: w, label: label, unit: unit, total: total, interval: 5 * time.Second, now: time.Now}
	r.start = r.now()
	return r
}

// Add counts n more units and prints a line if the interval has passed.
func (r *Reporter) Add(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done += n
	if t := r.now(); t.Sub(r.last) >= r.interval {
		r.last = t
		r.print(t)
	}
}

// Finish prints the final line.
func (r *Reporter) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.print(r.now())
}

// Line formats the current state, e.g. "fid ref: 1200/30000 (4.0%) 12.3 images/s ETA 39m2s".
func (r *Reporter) Line() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.line(r.now())
}

func (r *Reporter) line(t time.Time) string {
	elapsed := t.Sub(r.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(r.done) / elapsed
	}
	s := fmt.Sprintf("%s: %d/%d", r.label, r.done, r.total)
	if r.total > 0 {
		s += fmt.Sprintf(" (%.1f%%)", 100*float64(r.done)/float64(r.total))
	}
	s += fmt.Sprintf(" %.2f %s/s", rate, r.unit)
	if rate > 0 && r.done < r.total {
		eta := time.Duration(float64(r.total-r.done) / rate * float64(time.Second))
		s += " ETA " + eta.Round(time.Second).String()
	} else if r.done >= r.total {
		s += " in " + t.Sub(r.start).Round(100*time.Millisecond).String()
	}
	return s
}

func (r *Reporter) print(t time.Time) {
	if r.w != nil {
		fmt.Fprintln(r.w, r.line(t))
	}
}
