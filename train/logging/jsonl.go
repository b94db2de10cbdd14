package logging

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"time"
)

// JSONL appends one JSON object per logged row to a file (metrics.jsonl):
//
//	{"step": 120, "time": "2026-11-26T12:00:00.123Z", "g/loss": 0.25, ...}
//
// Keys are sorted; NaN and infinities are written as strings. Images are not written (they
// are saved as PNG files by the run). The file is appended to, so a resumed run continues it.
type JSONL struct {
	f   *os.File
	w   *bufio.Writer
	now func() time.Time
}

// NewJSONL opens path for appending, creating it if needed.
func NewJSONL(path string) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics jsonl: %w", err)
	}
	return &JSONL{f: f, w: bufio.NewWriter(f), now: time.Now}, nil
}

// Scalars implements Sink.
func (j *JSONL) Scalars(step int64, values map[string]float64) error {
	row := make(map[string]any, len(values)+2)
	for k, v := range values {
		row[k] = jsonNumber(v)
	}
	row["step"] = step
	row["time"] = j.now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(row)
	if err != nil {
		return fmt.Errorf("metrics jsonl: encoding step %d: %w", step, err)
	}
	b = append(b, '\n')
	if _, err := j.w.Write(b); err != nil {
		return fmt.Errorf("metrics jsonl %s: %w", j.f.Name(), err)
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("metrics jsonl %s: %w", j.f.Name(), err)
	}
	return nil
}

// Images implements Sink; images are not part of metrics.jsonl.
func (j *JSONL) Images(int64, map[string]image.Image) error { return nil }

// Close implements Sink.
func (j *JSONL) Close() error {
	ferr := j.w.Flush()
	cerr := j.f.Close()
	if ferr != nil {
		return fmt.Errorf("metrics jsonl %s: %w", j.f.Name(), ferr)
	}
	if cerr != nil {
		return fmt.Errorf("metrics jsonl %s: %w", j.f.Name(), cerr)
	}
	return nil
}
