package logging

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Weights & Biases, spoken over net/http as the official client does:
//
//   - POST {base}/graphql (HTTP basic auth, user "api", password the API key):
//     `query Viewer` for the key's default entity, `mutation UpsertBucket` to create or
//     resume the run (its response carries historyLineCount, the resume offset), and
//     `mutation CreateRunFiles` for signed upload URLs of media files, which are then PUT.
//   - POST {base}/files/{entity}/{project}/{run}/file_stream with
//     {"files": {"wandb-history.jsonl": {"offset": n, "content": [row, ...]}}} to append
//     history rows, "wandb-summary.json" for the summary, and {"complete": true,
//     "exitcode": c} when the run ends.
//
// Every row is also kept in a local folder, which is the whole of offline mode and what
// `sprint wandb sync DIR` uploads later:
//
//	run.json       the run's id, project, entity, display name and flat config
//	history.jsonl  one W&B history row per line (_step, _timestamp, _runtime, values)
//	media/images/  PNG files referenced by rows as {"_type": "image-file", "path": ...}
//	summary.json   the last value of every key (written at the end)
//	state.json     {"finished": true, "exit_code": c} once the run process ended

// DefaultWandBBaseURL is the W&B server used when WANDB_BASE_URL is not set.
const DefaultWandBBaseURL = "https://api.wandb.ai"

// Local file names of a W&B folder.
const (
	wandbRunFile     = "run.json"
	wandbHistoryFile = "history.jsonl"
	wandbSummaryFile = "summary.json"
	wandbStateFile   = "state.json"
	wandbMediaDir    = "media/images"
)

// Server-side file names of the file_stream API.
const (
	streamHistory = "wandb-history.jsonl"
	streamSummary = "wandb-summary.json"
)

// maxLinesPerRequest bounds one file_stream request.
const maxLinesPerRequest = 500

// WandBOptions configures a W&B sink or a sync.
type WandBOptions struct {
	// Dir is the local folder of the run (runs/<name>/wandb).
	Dir string
	// Project and Entity; an empty entity means the API key's default entity.
	Project, Entity string
	// DisplayName is the run's name in the UI.
	DisplayName string
	// Config is the flat resolved config (dotted key -> value text).
	Config map[string]string
	// Offline keeps everything local; upload later with SyncWandB.
	Offline bool
	// BaseURL and APIKey default to $WANDB_BASE_URL (or DefaultWandBBaseURL) and $WANDB_API_KEY.
	BaseURL, APIKey string
	// HTTPClient defaults to a client with a 60 s timeout.
	HTTPClient *http.Client
	// FlushInterval is how often rows are streamed in online mode (default 5 s).
	FlushInterval time.Duration
	// RetryWait is the first wait between retries of a failed request (default 2 s, doubling, 4 tries).
	RetryWait time.Duration
	// Warn reports upload problems of online mode; training goes on and the rows stay in
	// the local folder for `sprint wandb sync`. Nil discards them.
	Warn func(error)
}

func (o *WandBOptions) defaults() {
	if o.BaseURL == "" {
		o.BaseURL = os.Getenv("WANDB_BASE_URL")
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultWandBBaseURL
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.APIKey == "" {
		o.APIKey = os.Getenv("WANDB_API_KEY")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 5 * time.Second
	}
	if o.RetryWait <= 0 {
		o.RetryWait = 2 * time.Second
	}
	if o.Warn == nil {
		o.Warn = func(error) {}
	}
}

// wandbRun is run.json.
type wandbRun struct {
	ID          string            `json:"id"`
	Project     string            `json:"project"`
	Entity      string            `json:"entity,omitempty"`
	DisplayName string            `json:"display_name,omitempty"`
	Config      map[string]string `json:"config,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
}

// wandbState is state.json.
type wandbState struct {
	Finished bool `json:"finished"`
	ExitCode int  `json:"exit_code"`
}

// WandB is a Sink that logs to Weights & Biases, keeping a local copy of every row.
type WandB struct {
	opts   WandBOptions
	run    wandbRun
	client *wbClient // nil offline
	start  time.Time
	// runtime0 is the _runtime of the last row of a previous process (resumed runs).
	runtime0 float64

	mu      sync.Mutex
	hist    *os.File
	lines   []string
	sent    int // rows the server has
	summary map[string]any
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// NewWandB opens (or resumes, if Dir already holds a run) a W&B run. Online, it resolves
// the entity, upserts the run and starts streaming in the background.
func NewWandB(ctx context.Context, opts WandBOptions) (*WandB, error) {
	opts.defaults()
	if opts.Project == "" {
		return nil, errors.New("wandb: the project is empty (log.wandb.project)")
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, wandbMediaDir), 0o755); err != nil {
		return nil, fmt.Errorf("wandb: local folder: %w", err)
	}
	w := &WandB{opts: opts, start: time.Now(), summary: map[string]any{}}
	runPath := filepath.Join(opts.Dir, wandbRunFile)
	if b, err := os.ReadFile(runPath); err == nil {
		if err := json.Unmarshal(b, &w.run); err != nil || w.run.ID == "" {
			return nil, fmt.Errorf("wandb: %s is damaged: %v", runPath, err)
		}
		w.run.Config, w.run.DisplayName = opts.Config, opts.DisplayName
	} else if errors.Is(err, os.ErrNotExist) {
		w.run = wandbRun{ID: newRunID(), Project: opts.Project, Entity: opts.Entity, DisplayName: opts.DisplayName,
			Config: opts.Config, CreatedAt: time.Now().UTC()}
	} else {
		return nil, fmt.Errorf("wandb: %w", err)
	}
	lines, err := readLines(filepath.Join(opts.Dir, wandbHistoryFile))
	if err != nil {
		return nil, fmt.Errorf("wandb: %w", err)
	}
	w.lines = lines
	if n := len(lines); n > 0 {
		var last map[string]any
		if json.Unmarshal([]byte(lines[n-1]), &last) == nil {
			if rt, ok := last["_runtime"].(float64); ok {
				w.runtime0 = rt
			}
		}
	}
	if !opts.Offline {
		if opts.APIKey == "" {
			return nil, errors.New("wandb: WANDB_API_KEY is not set (or use log.wandb.mode=offline)")
		}
		w.client = &wbClient{base: opts.BaseURL, key: opts.APIKey, http: opts.HTTPClient, retryWait: opts.RetryWait}
		count, err := w.client.upsertRun(ctx, &w.run)
		if err != nil {
			return nil, err
		}
		w.sent = min(count, len(w.lines))
	}
	if err := writeJSONFile(runPath, w.run); err != nil {
		return nil, fmt.Errorf("wandb: %w", err)
	}
	if err := os.Remove(filepath.Join(opts.Dir, wandbStateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("wandb: %w", err)
	}
	w.hist, err = os.OpenFile(filepath.Join(opts.Dir, wandbHistoryFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wandb: %w", err)
	}
	if w.client != nil {
		w.stop, w.done = make(chan struct{}), make(chan struct{})
		go w.loop()
	}
	return w, nil
}

// RunID returns the W&B run id (stable across resumes of the same local folder).
func (w *WandB) RunID() string { return w.run.ID }

// newRunID returns 8 random characters from [a-z0-9], as W&B run ids look.
func newRunID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func readLines(p string) ([]string, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

func writeJSONFile(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// addRow appends one history row locally and queues it for upload.
func (w *WandB) addRow(step int64, values map[string]any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("wandb: logging after Finish")
	}
	row := make(map[string]any, len(values)+3)
	maps.Copy(row, values)
	now := time.Now()
	row["_step"] = step
	row["_timestamp"] = float64(now.UnixNano()) / 1e9
	row["_runtime"] = w.runtime0 + now.Sub(w.start).Seconds()
	b, err := json.Marshal(row)
	if err != nil {
		return fmt.Errorf("wandb: encoding step %d: %w", step, err)
	}
	if _, err := w.hist.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("wandb: local history: %w", err)
	}
	w.lines = append(w.lines, string(b))
	maps.Copy(w.summary, values)
	return nil
}

// Scalars implements Sink.
func (w *WandB) Scalars(step int64, values map[string]float64) error {
	row := make(map[string]any, len(values))
	for k, v := range values {
		row[k] = jsonNumber(v)
	}
	return w.addRow(step, row)
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// Images implements Sink: each image is saved under media/images and referenced in the row
// as an "image-file"; it is uploaded before the row.
func (w *WandB) Images(step int64, images map[string]image.Image) error {
	row := make(map[string]any, len(images))
	for _, k := range slices.Sorted(maps.Keys(images)) {
		img := images[k]
		data, err := EncodePNG(img)
		if err != nil {
			return fmt.Errorf("wandb: image %q: %w", k, err)
		}
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		rel := path.Join(wandbMediaDir, fmt.Sprintf("%s_%d_%s.png", unsafeFileChars.ReplaceAllString(k, "_"), step, digest[:20]))
		if err := os.WriteFile(filepath.Join(w.opts.Dir, filepath.FromSlash(rel)), data, 0o644); err != nil {
			return fmt.Errorf("wandb: image %q: %w", k, err)
		}
		b := img.Bounds()
		row[k] = map[string]any{"_type": "image-file", "path": rel, "sha256": digest, "size": len(data),
			"format": "png", "width": b.Dx(), "height": b.Dy()}
	}
	return w.addRow(step, row)
}

// loop streams queued rows every FlushInterval until Finish.
func (w *WandB) loop() {
	defer close(w.done)
	t := time.NewTicker(w.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if err := w.flush(context.Background()); err != nil {
				w.opts.Warn(err)
			}
		}
	}
}

// flush uploads the rows the server does not have yet.
func (w *WandB) flush(ctx context.Context) error {
	w.mu.Lock()
	offset, pending := w.sent, slices.Clone(w.lines[w.sent:])
	w.mu.Unlock()
	n, err := uploadRows(ctx, w.client, w.opts.Dir, &w.run, offset, pending)
	w.mu.Lock()
	w.sent = max(w.sent, offset+n)
	w.mu.Unlock()
	return err
}

// Close implements Sink (exit code 0).
func (w *WandB) Close() error { return w.Finish(0) }

// Finish implements Finisher: it uploads what is left, the summary and the exit code
// (online), and records them locally.
func (w *WandB) Finish(exitCode int) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	summary := maps.Clone(w.summary)
	w.mu.Unlock()
	var errs []error
	if w.client != nil {
		close(w.stop)
		<-w.done
		ctx := context.Background()
		if err := w.flush(ctx); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, finishRemote(ctx, w.client, &w.run, summary, exitCode))
		}
	}
	errs = append(errs, w.hist.Close())
	errs = append(errs, writeJSONFile(filepath.Join(w.opts.Dir, wandbSummaryFile), summary))
	errs = append(errs, writeJSONFile(filepath.Join(w.opts.Dir, wandbStateFile), wandbState{Finished: true, ExitCode: exitCode}))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wandb: finishing (rows are kept in %s for `sprint wandb sync`): %w", w.opts.Dir, err)
	}
	return nil
}

// uploadRows uploads the media files the rows reference, then the rows at offset, in
// batches. It returns how many rows the server accepted.
func uploadRows(ctx context.Context, c *wbClient, dir string, run *wandbRun, offset int, rows []string) (int, error) {
	done := 0
	for done < len(rows) {
		batch := rows[done:min(len(rows), done+maxLinesPerRequest)]
		for _, line := range batch {
			for _, media := range mediaPaths(line) {
				data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(media)))
				if err != nil {
					return done, fmt.Errorf("wandb: media file of row %d: %w", offset+done, err)
				}
				if err := c.uploadFile(ctx, run, media, data); err != nil {
					return done, err
				}
			}
		}
		payload := map[string]any{"files": map[string]any{streamHistory: map[string]any{"offset": offset + done, "content": batch}}}
		if err := c.fileStream(ctx, run, payload); err != nil {
			return done, err
		}
		done += len(batch)
	}
	return done, nil
}

// mediaPaths returns the paths of the image files a history row references.
func mediaPaths(line string) []string {
	var row map[string]any
	if json.Unmarshal([]byte(line), &row) != nil {
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(row)) {
		if m, ok := row[k].(map[string]any); ok && m["_type"] == "image-file" {
			if p, ok := m["path"].(string); ok && p != "" && !strings.Contains(p, "..") {
				out = append(out, p)
			}
		}
	}
	return out
}

// finishRemote sends the summary and marks the run complete with its exit code.
func finishRemote(ctx context.Context, c *wbClient, run *wandbRun, summary map[string]any, exitCode int) error {
	if len(summary) > 0 {
		b, err := json.Marshal(summary)
		if err != nil {
			return fmt.Errorf("wandb: encoding the summary: %w", err)
		}
		payload := map[string]any{"files": map[string]any{streamSummary: map[string]any{"offset": 0, "content": []string{string(b)}}}}
		if err := c.fileStream(ctx, run, payload); err != nil {
			return err
		}
	}
	return c.fileStream(ctx, run, map[string]any{"complete": true, "exitcode": exitCode})
}

// SyncReport says what SyncWandB uploaded.
type SyncReport struct {
	RunID, Entity, Project string
	// Rows is the number of history rows uploaded now; Total the rows of the local copy.
	Rows, Total int
	// Finished is true when the run's end (exit code) was sent.
	Finished bool
	ExitCode int
}

// SyncWandB uploads a local W&B folder (written offline, or online with upload failures):
// it upserts the run, asks the server how many rows it has, uploads the rest with their
// media, then the summary and the exit code if the run has ended. Running it again
// uploads nothing new. opts.Dir is ignored (dir is used); Entity and Project, if set,
// override the folder's.
func SyncWandB(ctx context.Context, dir string, opts WandBOptions) (SyncReport, error) {
	opts.defaults()
	var run wandbRun
	b, err := os.ReadFile(filepath.Join(dir, wandbRunFile))
	if err != nil {
		return SyncReport{}, fmt.Errorf("wandb sync: %s is not a W&B run folder: %w", dir, err)
	}
	if err := json.Unmarshal(b, &run); err != nil || run.ID == "" {
		return SyncReport{}, fmt.Errorf("wandb sync: %s: damaged %s: %v", dir, wandbRunFile, err)
	}
	if opts.Project != "" {
		run.Project = opts.Project
	}
	if opts.Entity != "" {
		run.Entity = opts.Entity
	}
	if opts.APIKey == "" {
		return SyncReport{}, errors.New("wandb sync: WANDB_API_KEY is not set")
	}
	c := &wbClient{base: opts.BaseURL, key: opts.APIKey, http: opts.HTTPClient, retryWait: opts.RetryWait}
	count, err := c.upsertRun(ctx, &run)
	if err != nil {
		return SyncReport{}, err
	}
	lines, err := readLines(filepath.Join(dir, wandbHistoryFile))
	if err != nil {
		return SyncReport{}, fmt.Errorf("wandb sync: %w", err)
	}
	rep := SyncReport{RunID: run.ID, Entity: run.Entity, Project: run.Project, Total: len(lines)}
	offset := min(count, len(lines))
	rep.Rows, err = uploadRows(ctx, c, dir, &run, offset, lines[offset:])
	if err != nil {
		return rep, fmt.Errorf("wandb sync: %w", err)
	}
	var st wandbState
	if b, err := os.ReadFile(filepath.Join(dir, wandbStateFile)); err == nil && json.Unmarshal(b, &st) == nil && st.Finished {
		summary := map[string]any{}
		if b, err := os.ReadFile(filepath.Join(dir, wandbSummaryFile)); err == nil {
			_ = json.Unmarshal(b, &summary)
		}
		if err := finishRemote(ctx, c, &run, summary, st.ExitCode); err != nil {
			return rep, fmt.Errorf("wandb sync: %w", err)
		}
		rep.Finished, rep.ExitCode = true, st.ExitCode
	}
	if err := writeJSONFile(filepath.Join(dir, wandbRunFile), run); err != nil {
		return rep, fmt.Errorf("wandb sync: %w", err)
	}
	return rep, nil
}

// wbClient is the HTTP side of W&B.
type wbClient struct {
	base, key string
	http      *http.Client
	retryWait time.Duration
}

// retryable reports whether a response status is worth retrying.
func retryable(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }

// do sends a request built by newReq, retrying network errors, 429 and 5xx up to 4 times.
func (c *wbClient) do(ctx context.Context, what string, newReq func() (*http.Request, error)) ([]byte, error) {
	wait := c.retryWait
	var lastErr error
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("wandb: %s: %w (last error: %v)", what, ctx.Err(), lastErr)
			case <-time.After(wait):
			}
			wait *= 2
		}
		req, err := newReq()
		if err != nil {
			return nil, fmt.Errorf("wandb: %s: %w", what, err)
		}
		resp, err := c.http.Do(req.WithContext(ctx))
		if err != nil {
			lastErr = err
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		_ = resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode/100 == 2 {
			return body, nil
		}
		lastErr = fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body[:min(len(body), 300)])))
		if !retryable(resp.StatusCode) {
			break
		}
	}
	return nil, fmt.Errorf("wandb: %s: %w", what, lastErr)
}

// postJSON POSTs a JSON body with the API key.
func (c *wbClient) postJSON(ctx context.Context, what, url string, payload any) ([]byte, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("wandb: %s: %w", what, err)
	}
	return c.do(ctx, what, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth("api", c.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "sprint-wandb-go")
		return req, nil
	})
}

// graphql runs one GraphQL operation and decodes its data into out.
func (c *wbClient) graphql(ctx context.Context, op, query string, vars map[string]any, out any) error {
	body, err := c.postJSON(ctx, op, c.base+"/graphql", map[string]any{"operationName": op, "query": query, "variables": vars})
	if err != nil {
		return err
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("wandb: %s: decoding the response: %w", op, err)
	}
	if len(resp.Errors) > 0 {
		msgs := make([]string, len(resp.Errors))
		for i, e := range resp.Errors {
			msgs[i] = e.Message
		}
		return fmt.Errorf("wandb: %s: %s", op, strings.Join(msgs, "; "))
	}
	if err := json.Unmarshal(resp.Data, out); err != nil {
		return fmt.Errorf("wandb: %s: decoding the data: %w", op, err)
	}
	return nil
}

const viewerQuery = `query Viewer {
  viewer { id entity }
}`

const upsertBucketMutation = `mutation UpsertBucket($id: String, $name: String, $project: String, $entity: String, $displayName: String, $config: JSONString) {
  upsertBucket(input: {id: $id, name: $name, modelName: $project, entityName: $entity, displayName: $displayName, config: $config}) {
    bucket {
      id
      name
      displayName
      historyLineCount
      project { name entity { name } }
    }
    inserted
  }
}`

const createRunFilesMutation = `mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) {
    runID
    uploadHeaders
    files { name uploadUrl }
  }
}`

// configJSON is the run config in W&B's form: {key: {"value": v, "desc": null}}, with
// numbers and booleans as such.
func configJSON(flat map[string]string) (string, error) {
	cfg := make(map[string]any, len(flat))
	for k, v := range flat {
		var val any = v
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			val = f
		} else if b, err := strconv.ParseBool(v); err == nil {
			val = b
		}
		cfg[k] = map[string]any{"value": val, "desc": nil}
	}
	b, err := json.Marshal(cfg)
	return string(b), err
}

// upsertRun creates or resumes run (filling in its entity) and returns the number of
// history rows the server already has.
func (c *wbClient) upsertRun(ctx context.Context, run *wandbRun) (int, error) {
	if run.Entity == "" {
		var v struct {
			Viewer struct {
				Entity string `json:"entity"`
			} `json:"viewer"`
		}
		if err := c.graphql(ctx, "Viewer", viewerQuery, map[string]any{}, &v); err != nil {
			return 0, err
		}
		if v.Viewer.Entity == "" {
			return 0, errors.New("wandb: the API key has no default entity; set log.wandb.entity")
		}
		run.Entity = v.Viewer.Entity
	}
	cfg, err := configJSON(run.Config)
	if err != nil {
		return 0, fmt.Errorf("wandb: encoding the config: %w", err)
	}
	vars := map[string]any{"name": run.ID, "project": run.Project, "entity": run.Entity, "config": cfg}
	if run.DisplayName != "" {
		vars["displayName"] = run.DisplayName
	}
	var out struct {
		UpsertBucket struct {
			Bucket struct {
				Name             string `json:"name"`
				HistoryLineCount int    `json:"historyLineCount"`
				Project          struct {
					Name   string `json:"name"`
					Entity struct {
						Name string `json:"name"`
					} `json:"entity"`
				} `json:"project"`
			} `json:"bucket"`
		} `json:"upsertBucket"`
	}
	if err := c.graphql(ctx, "UpsertBucket", upsertBucketMutation, vars, &out); err != nil {
		return 0, err
	}
	b := out.UpsertBucket.Bucket
	if b.Project.Entity.Name != "" {
		run.Entity = b.Project.Entity.Name
	}
	if b.Project.Name != "" {
		run.Project = b.Project.Name
	}
	return b.HistoryLineCount, nil
}

// streamURL is the run's file_stream endpoint.
func (c *wbClient) streamURL(run *wandbRun) string {
	return fmt.Sprintf("%s/files/%s/%s/%s/file_stream", c.base,
		url.PathEscape(run.Entity), url.PathEscape(run.Project), url.PathEscape(run.ID))
}

// fileStream posts one file_stream payload.
func (c *wbClient) fileStream(ctx context.Context, run *wandbRun, payload any) error {
	_, err := c.postJSON(ctx, "file_stream", c.streamURL(run), payload)
	return err
}

// uploadFile stores one run file (relative path name) through a signed upload URL.
func (c *wbClient) uploadFile(ctx context.Context, run *wandbRun, name string, data []byte) error {
	var out struct {
		CreateRunFiles struct {
			UploadHeaders []string `json:"uploadHeaders"`
			Files         []struct {
				Name      string  `json:"name"`
				UploadURL *string `json:"uploadUrl"`
			} `json:"files"`
		} `json:"createRunFiles"`
	}
	vars := map[string]any{"entity": run.Entity, "project": run.Project, "run": run.ID, "files": []string{name}}
	if err := c.graphql(ctx, "CreateRunFiles", createRunFilesMutation, vars, &out); err != nil {
		return err
	}
	var uploadURL string
	for _, f := range out.CreateRunFiles.Files {
		if f.Name == name && f.UploadURL != nil {
			uploadURL = *f.UploadURL
		}
	}
	if uploadURL == "" {
		return fmt.Errorf("wandb: CreateRunFiles gave no upload URL for %s", name)
	}
	if strings.HasPrefix(uploadURL, "/") {
		uploadURL = c.base + uploadURL
	}
	headers := out.CreateRunFiles.UploadHeaders
	if _, err := c.do(ctx, "upload "+name, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, uploadURL, bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		return req, nil
	}); err != nil {
		return err
	}
	return c.fileStream(ctx, run, map[string]any{"uploaded": []string{name}})
}
