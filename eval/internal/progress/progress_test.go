package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "fid", "images", 100)
	clock := r.start
	r.now = func() time.Time { return clock }
	clock = clock.Add(10 * time.Second)
	r.Add(20)
	line := r.Line()
	for _, want := range []string{"fid: 20/100", "(20.0%)", "2.00 images/s", "ETA 40s"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if !strings.Contains(buf.String(), "20/100") {
		t.Errorf("nothing printed: %q", buf.String())
	}
	clock = clock.Add(time.Second)
	r.Add(1) // within the interval: no new line
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("printed too often: %q", buf.String())
	}
	r.Add(79)
	r.Finish()
	if !strings.Contains(buf.String(), "100/100") || !strings.Contains(r.Line(), " in ") {
		t.Errorf("final line: %q", buf.String())
	}
}
