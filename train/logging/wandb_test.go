package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeWandB is an httptest W&B server that checks every request the way the real one
// would need it: authentication, GraphQL operation names and variables, file_stream offsets.
type fakeWandB struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	upserts     []map[string]any
	history     map[string][]string // run id -> rows
	summary     map[string]string
	complete    map[string]int // run id -> exit code
	uploads     map[string][]byte
	uploaded    []string
	failStreams int // file_stream requests to fail with 503
	requests    []string
}

func newFakeWandB(t *testing.T) *fakeWandB {
	f := &fakeWandB{t: t, history: map[string][]string{}, summary: map[string]string{}, complete: map[string]int{}, uploads: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWandB) fail(w http.ResponseWriter, format string, args ...any) {
	f.t.Errorf(format, args...)
	http.Error(w, "bad request", http.StatusBadRequest)
}

func (f *fakeWandB) handle(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	body, _ := io.ReadAll(r.Body)
	if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/upload/") {
		if r.Header.Get("Content-Type") != "image/png" {
			f.fail(w, "upload without the signed Content-Type header: %q", r.Header.Get("Content-Type"))
			return
		}
		f.uploads[strings.TrimPrefix(r.URL.Path, "/upload/")] = body
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != "api" || pass != "test-key" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		f.t.Errorf("%s %s: bad auth %q %q", r.Method, r.URL.Path, user, pass)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		f.fail(w, "content type %q", r.Header.Get("Content-Type"))
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/graphql":
		var req struct {
			OperationName string         `json:"operationName"`
			Query         string         `json:"query"`
			Variables     map[string]any `json:"variables"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			f.fail(w, "graphql body: %v", err)
			return
		}
		if !strings.Contains(req.Query, req.OperationName) {
			f.fail(w, "operation %s not in its query", req.OperationName)
			return
		}
		var data any
		switch req.OperationName {
		case "Viewer":
			data = map[string]any{"viewer": map[string]any{"id": "u1", "entity": "alice"}}
		case "UpsertBucket":
			if !strings.Contains(req.Query, "upsertBucket(input:") {
				f.fail(w, "upsert query %q", req.Query)
				return
			}
			f.upserts = append(f.upserts, req.Variables)
			name, _ := req.Variables["name"].(string)
			data = map[string]any{"upsertBucket": map[string]any{"inserted": len(f.history[name]) == 0, "bucket": map[string]any{
				"id": "storage-" + name, "name": name, "historyLineCount": len(f.history[name]),
				"project": map[string]any{"name": req.Variables["project"], "entity": map[string]any{"name": req.Variables["entity"]}}}}}
		case "CreateRunFiles":
			files, _ := req.Variables["files"].([]any)
			var out []any
			for _, fn := range files {
				out = append(out, map[string]any{"name": fn, "uploadUrl": f.srv.URL + "/upload/" + fn.(string)})
			}
			data = map[string]any{"createRunFiles": map[string]any{"runID": "storage-" + req.Variables["run"].(string),
				"uploadHeaders": []string{"Content-Type:image/png"}, "files": out}}
		default:
			f.fail(w, "unknown operation %s", req.OperationName)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/file_stream"):
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 5 || parts[0] != "files" || parts[1] != "alice" || parts[2] != "proj" {
			f.fail(w, "file_stream path %s", r.URL.Path)
			return
		}
		if f.failStreams > 0 {
			f.failStreams--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		run := parts[3]
		var req struct {
			Files map[string]struct {
				Offset  int      `json:"offset"`
				Content []string `json:"content"`
			} `json:"files"`
			Complete *bool    `json:"complete"`
			ExitCode *int     `json:"exitcode"`
			Uploaded []string `json:"uploaded"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			f.fail(w, "file_stream body: %v", err)
			return
		}
		for name, fc := range req.Files {
			switch name {
			case "wandb-history.jsonl":
				if fc.Offset > len(f.history[run]) {
					f.fail(w, "history offset %d beyond the %d rows held", fc.Offset, len(f.history[run]))
					return
				}
				f.history[run] = append(f.history[run][:fc.Offset], fc.Content...)
			case "wandb-summary.json":
				f.summary[run] = fc.Content[0]
			default:
				f.fail(w, "unexpected stream file %s", name)
				return
			}
		}
		if req.Complete != nil && *req.Complete {
			if req.ExitCode == nil {
				f.fail(w, "complete without exitcode")
				return
			}
			f.complete[run] = *req.ExitCode
		}
		f.uploaded = append(f.uploaded, req.Uploaded...)
		_, _ = w.Write([]byte(`{"exitcode": null, "limits": {}}`))
	default:
		f.fail(w, "unexpected request %s %s", r.Method, r.URL.Path)
	}
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.Set(2, 1, color.RGBA{R: 1, G: 2, B: 3, A: 255})
	return img
}

// start starts a run against the fake server, failing the test when it cannot.
func (f *fakeWandB) start(opts WandBOptions) *WandB {
	f.t.Helper()
	w, err := NewWandB(context.Background(), opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func (f *fakeWandB) opts(dir string, offline bool) WandBOptions {
	return WandBOptions{Dir: dir, Project: "proj", DisplayName: "tiny", Offline: offline,
		Config:  map[string]string{"train.optimizer.lr": "2e-06", "train.optimizer.type": "came", "log.jsonl": "true"},
		BaseURL: f.srv.URL, APIKey: "test-key", FlushInterval: 5 * time.Millisecond, RetryWait: time.Millisecond,
		Warn: func(err error) { f.t.Logf("warning: %v", err) }}
}

func decodeRow(t *testing.T, line string) map[string]any {
	t.Helper()
	var row map[string]any
	if err := json.Unmarshal([]byte(line), &row); err != nil {
		t.Fatalf("row %q: %v", line, err)
	}
	return row
}

func TestWandBOnline(t *testing.T) {
	f := newFakeWandB(t)
	dir := filepath.Join(t.TempDir(), "wandb")
	w := f.start(f.opts(dir, false))
	for s := int64(1); s <= 3; s++ {
		if err := w.Scalars(s*10, map[string]float64{"g/loss": 1 / float64(s)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(30 * time.Millisecond) // let the background stream send some rows
	if err := w.Images(30, map[string]image.Image{"samples/1step": testImage()}); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(0); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.upserts) != 1 {
		t.Fatalf("%d upserts", len(f.upserts))
	}
	up := f.upserts[0]
	if up["name"] != w.RunID() || up["project"] != "proj" || up["entity"] != "alice" || up["displayName"] != "tiny" {
		t.Fatalf("upsert variables %v", up)
	}
	var cfg map[string]map[string]any
	if err := json.Unmarshal([]byte(up["config"].(string)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["train.optimizer.lr"]["value"] != 2e-06 || cfg["train.optimizer.type"]["value"] != "came" || cfg["log.jsonl"]["value"] != true {
		t.Fatalf("config %v", cfg)
	}
	rows := f.history[w.RunID()]
	if len(rows) != 4 {
		t.Fatalf("%d rows on the server: %v", len(rows), rows)
	}
	r0 := decodeRow(t, rows[0])
	if r0["_step"] != 10.0 || r0["g/loss"] != 1.0 || r0["_timestamp"] == nil || r0["_runtime"] == nil {
		t.Fatalf("row 0 %v", r0)
	}
	img := decodeRow(t, rows[3])["samples/1step"].(map[string]any)
	p := img["path"].(string)
	if img["_type"] != "image-file" || img["format"] != "png" || img["width"] != 4.0 || img["height"] != 2.0 || !strings.HasPrefix(p, "media/images/samples_1step_30_") {
		t.Fatalf("image ref %v", img)
	}
	decoded, err := png.Decode(bytes.NewReader(f.uploads[p]))
	if err != nil {
		t.Fatalf("uploaded image: %v", err)
	}
	if r, _, _, _ := decoded.At(2, 1).RGBA(); r>>8 != 1 {
		t.Fatal("uploaded image content differs")
	}
	if len(f.uploaded) != 1 || f.uploaded[0] != p {
		t.Fatalf("uploaded notices %v", f.uploaded)
	}
	if code, ok := f.complete[w.RunID()]; !ok || code != 0 {
		t.Fatalf("complete %v", f.complete)
	}
	if !strings.Contains(f.summary[w.RunID()], `"g/loss":0.3333`) {
		t.Fatalf("summary %s", f.summary[w.RunID()])
	}
	local, err := readLines(filepath.Join(dir, wandbHistoryFile))
	if err != nil || len(local) != 4 {
		t.Fatalf("local copy: %d rows, %v", len(local), err)
	}
}

// TestWandBResume reopens the same folder: same run id, rows continue at the server's count.
func TestWandBResume(t *testing.T) {
	f := newFakeWandB(t)
	dir := t.TempDir()
	w := f.start(f.opts(dir, false))
	_ = w.Scalars(1, map[string]float64{"x": 1})
	_ = w.Scalars(2, map[string]float64{"x": 2})
	if err := w.Finish(75); err != nil {
		t.Fatal(err)
	}
	w2 := f.start(f.opts(dir, false))
	if w2.RunID() != w.RunID() {
		t.Fatalf("resumed run id %s, want %s", w2.RunID(), w.RunID())
	}
	_ = w2.Scalars(3, map[string]float64{"x": 3})
	if err := w2.Finish(0); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := f.history[w.RunID()]
	if len(rows) != 3 || decodeRow(t, rows[2])["_step"] != 3.0 {
		t.Fatalf("rows %v", rows)
	}
	if rt0, rt2 := decodeRow(t, rows[0])["_runtime"].(float64), decodeRow(t, rows[2])["_runtime"].(float64); rt2 < rt0 {
		t.Fatalf("_runtime went back: %g then %g", rt0, rt2)
	}
	if f.complete[w.RunID()] != 0 {
		t.Fatalf("exit code %d", f.complete[w.RunID()])
	}
}

// TestWandBOfflineThenSync: offline mode sends nothing; sync uploads rows, media, summary
// and exit code; a second sync uploads nothing new.
func TestWandBOfflineThenSync(t *testing.T) {
	f := newFakeWandB(t)
	dir := t.TempDir()
	w := f.start(f.opts(dir, true))
	_ = w.Scalars(5, map[string]float64{"g/loss": 0.5})
	if err := w.Images(5, map[string]image.Image{"samples/2step": testImage()}); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(0); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if len(f.requests) != 0 {
		t.Fatalf("offline mode made requests: %v", f.requests)
	}
	f.mu.Unlock()

	rep, err := SyncWandB(context.Background(), dir, f.opts("", false))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 2 || rep.Total != 2 || !rep.Finished || rep.Entity != "alice" || rep.RunID != w.RunID() {
		t.Fatalf("report %+v", rep)
	}
	f.mu.Lock()
	if len(f.history[w.RunID()]) != 2 || len(f.uploads) != 1 || f.complete[w.RunID()] != 0 {
		t.Fatalf("server: %d rows, %d uploads, complete %v", len(f.history[w.RunID()]), len(f.uploads), f.complete)
	}
	f.mu.Unlock()
	rep, err = SyncWandB(context.Background(), dir, f.opts("", false))
	if err != nil || rep.Rows != 0 {
		t.Fatalf("second sync: %+v, %v", rep, err)
	}
}

// TestWandBServerFailures: transient 503s are retried; a server that keeps failing makes
// Finish report it while the rows stay local, and a later sync uploads them.
func TestWandBServerFailures(t *testing.T) {
	f := newFakeWandB(t)
	dir := t.TempDir()
	opts := f.opts(dir, false)
	opts.FlushInterval = time.Hour // only Finish uploads
	w := f.start(opts)
	_ = w.Scalars(1, map[string]float64{"x": 1})
	f.mu.Lock()
	f.failStreams = 2 // retried within one request
	f.mu.Unlock()
	if err := w.Finish(0); err != nil {
		t.Fatalf("transient failures must be retried: %v", err)
	}

	dir2 := t.TempDir()
	opts.Dir = dir2
	w2 := f.start(opts)
	_ = w2.Scalars(1, map[string]float64{"y": 1})
	_ = w2.Scalars(2, map[string]float64{"y": 2})
	f.mu.Lock()
	f.failStreams = 100
	f.mu.Unlock()
	if err := w2.Finish(0); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Finish against a failing server: %v", err)
	}
	f.mu.Lock()
	f.failStreams = 0
	f.mu.Unlock()
	rep, err := SyncWandB(context.Background(), dir2, f.opts("", false))
	if err != nil || rep.Rows != 2 || !rep.Finished {
		t.Fatalf("sync after failure: %+v, %v", rep, err)
	}
}

func TestWandBNeedsKey(t *testing.T) {
	t.Setenv("WANDB_API_KEY", "")
	_, err := NewWandB(context.Background(), WandBOptions{Dir: t.TempDir(), Project: "p", BaseURL: "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "WANDB_API_KEY") {
		t.Fatalf("err %v", err)
	}
}
