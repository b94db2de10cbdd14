package checkpoints

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/internal/testproc"
)

func testCheckpoint(step int64) *Checkpoint {
	return &Checkpoint{
		State: State{
			GlobalStep: step,
			Sections: map[string]json.RawMessage{
				"loop": json.RawMessage(fmt.Sprintf(`{"phase_steps":{"d":%d,"g":%d},"phase":"d"}`, step/2, (step+1)/2)),
				"rng":  json.RawMessage(`{"seed":42}`),
				"data": json.RawMessage(fmt.Sprintf(`{"epoch":0,"row":%d}`, step*4)),
			},
			ConfigFingerprint: Fingerprint([]byte("train:\n  lr: 1\n")),
			SavedAt:           time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		},
		Tensors: map[string]*tensors.Tensor{
			"student/blocks.0.w": tensors.FromValue([][]float32{{1, 2, float32(step)}, {4, 5, 6}}),
			"opt_g/count":        tensors.FromScalar(step),
			"opt_g/exp_avg/w":    tensors.FromValue([]float32{0.5, -0.5}),
			"heads/h.bf16":       tensors.FromValue([]bfloat16.BFloat16{bfloat16.FromFloat32(1.5), bfloat16.FromFloat32(-2)}),
		},
		ConfigYAML: []byte("train:\n  lr: 1\n"),
		ConfigFlat: map[string]string{"train.lr": "1"},
	}
}

// saveSteps saves testCheckpoint(step) for each step through a new Manager of dir that keeps
// keepLast, and returns the Manager and the paths saved.
func saveSteps(t *testing.T, dir string, keepLast int, steps ...int64) (*Manager, []string) {
	t.Helper()
	m, err := NewManager(dir, keepLast, nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, step := range steps {
		p, err := m.Save(testCheckpoint(step))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return m, paths
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m, err := NewManager(dir, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := testCheckpoint(7)
	path, err := m.Save(c)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "step-000000007.safetensors" {
		t.Fatalf("path %s", path)
	}
	latest, err := Latest(dir)
	if err != nil || latest != path {
		t.Fatalf("Latest = %q, %v; want %q", latest, err, path)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var rng struct{ Seed int64 }
	if got.State.GlobalStep != 7 || string(got.State.Sections["loop"]) != `{"phase_steps":{"d":3,"g":4},"phase":"d"}` ||
		string(got.State.Sections["data"]) != `{"epoch":0,"row":28}` || !got.State.SavedAt.Equal(c.State.SavedAt) ||
		got.State.Section("rng", &rng) != nil || rng.Seed != 42 {
		t.Fatalf("state %+v", got.State)
	}
	if err := got.State.Section("optimizers", &rng); err == nil || !strings.Contains(err.Error(), `no "optimizers" section`) {
		t.Fatalf("missing section: %v", err)
	}
	if !slices.Equal(got.State.Groups, []string{"heads", "opt_g", "student"}) {
		t.Fatalf("groups %v", got.State.Groups)
	}
	if string(got.ConfigYAML) != string(c.ConfigYAML) || got.ConfigFlat["train.lr"] != "1" {
		t.Fatalf("config %q %v", got.ConfigYAML, got.ConfigFlat)
	}
	for name, want := range c.Tensors {
		g := got.Tensors[name]
		if g == nil || !g.Equal(want) {
			t.Fatalf("tensor %s: got %v want %v", name, g, want)
		}
	}
	if got.Tensors["heads/h.bf16"].DType() != dtypes.BFloat16 || got.Tensors["opt_g/count"].DType() != dtypes.Int64 {
		t.Fatal("dtypes not preserved")
	}
}

func TestKeepLast(t *testing.T) {
	dir := t.TempDir()
	saveSteps(t, dir, 2, 10, 20, 30, 40)
	paths, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	if !slices.Equal(names, []string{FileName(30), FileName(40)}) {
		t.Fatalf("kept %v", names)
	}
	if p, _ := Latest(dir); filepath.Base(p) != FileName(40) {
		t.Fatalf("latest %s", p)
	}
}

// faultFS wraps atomicfile.OS and injects failures.
type faultFS struct {
	atomicfile.OS
	failWriteAfter int64  // fail writes of files matching failOn after this many bytes (-1: never)
	failOn         string // substring of the temporary file name
	failRename     string // fail renames to a path with this base name
	stall          func() // called instead of failing a write, if set (kill-during-save helper)
}

func (f *faultFS) CreateTemp(dir, pattern string) (atomicfile.File, error) {
	file, err := f.OS.CreateTemp(dir, pattern)
	if err != nil || f.failWriteAfter < 0 || !strings.Contains(file.Name(), f.failOn) {
		return file, err
	}
	return &faultFile{File: file, left: f.failWriteAfter, stall: f.stall}, nil
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if f.failRename != "" && filepath.Base(newpath) == f.failRename {
		return errors.New("injected rename failure")
	}
	return f.OS.Rename(oldpath, newpath)
}

type faultFile struct {
	atomicfile.File
	left  int64
	stall func()
}

// errDiskFull mimics ENOSPC.
var errDiskFull = fmt.Errorf("injected: %w", syscall.ENOSPC)

func (f *faultFile) Write(p []byte) (int, error) {
	if int64(len(p)) <= f.left {
		f.left -= int64(len(p))
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:f.left])
	f.left = 0
	if f.stall != nil {
		_ = f.File.Sync()
		f.stall()
	}
	return n, errDiskFull
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestSaveFailureKeepsLastGood injects a full disk in the middle of the tensor file, then a
// failing rename of the `latest` pointer: each save reports the error, and the previous
// checkpoint stays the loadable latest, with no temporary files left behind.
func TestSaveFailureKeepsLastGood(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   *faultFS
		want string
	}{
		{"disk full in tensors", &faultFS{failWriteAfter: 100, failOn: ".step-"}, "no space left"},
		{"disk full in pointer", &faultFS{failWriteAfter: 3, failOn: ".latest"}, "no space left"},
		{"rename of tensors fails", &faultFS{failWriteAfter: -1, failRename: FileName(2)}, "rename"},
		{"rename of pointer fails", &faultFS{failWriteAfter: -1, failRename: LatestName}, "rename"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, saved := saveSteps(t, dir, 3, 1)
			first := saved[0]
			bad, err := NewManager(dir, 3, tc.fs)
			if err != nil {
				t.Fatal(err)
			}
			_, err = bad.Save(testCheckpoint(2))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Save error = %v, want one mentioning %q", err, tc.want)
			}
			latest, err := Latest(dir)
			if err != nil || latest != first {
				t.Fatalf("Latest = %q, %v; want %q", latest, err, first)
			}
			if _, err := Load(latest); err != nil {
				t.Fatal(err)
			}
			if tmp := tempFiles(t, dir); len(tmp) > 0 {
				t.Fatalf("temporary files left: %v", tmp)
			}
		})
	}
}

func TestUnwritableFolder(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewManager(filepath.Join(blocker, "checkpoints"), 1, nil); err == nil {
		t.Fatal("a checkpoints folder below a file must be reported")
	}
}

// TestLatestFallsBackOnDamage: a truncated newest file (as a crash without atomic rename
// would leave) and a pointer to it, or a garbage pointer, fall back to the newest complete one.
func TestLatestFallsBackOnDamage(t *testing.T) {
	dir := t.TempDir()
	_, saved := saveSteps(t, dir, 5, 1, 2)
	first, second := saved[0], saved[1]
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, b[:len(b)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Latest(dir); err != nil || got != first {
		t.Fatalf("Latest with a truncated newest file = %q, %v; want %q", got, err, first)
	}
	if err := os.WriteFile(filepath.Join(dir, LatestName), []byte("../../etc/passwd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Latest(dir); err != nil || got != first {
		t.Fatalf("Latest with a bad pointer = %q, %v; want %q", got, err, first)
	}
	empty := t.TempDir()
	if _, err := Latest(empty); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("empty folder: %v", err)
	}
}

const killHelperEnv = "SPRINTTEST_KILL_HELPER_DIR"

// TestKillHelper is not a test by itself: TestKillDuringSave runs it in a child process
// that saves one checkpoint, then stalls in the middle of writing the second one.
func TestKillHelper(t *testing.T) {
	dir := testproc.Value(t, killHelperEnv, "TestKillDuringSave")
	good, err := NewManager(dir, 3, nil)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	if _, err := good.Save(testCheckpoint(1)); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	stallFS := &faultFS{failWriteAfter: 200, failOn: ".step-", stall: func() {
		fmt.Println("MIDSAVE")
		time.Sleep(time.Minute)
	}}
	m, err := NewManager(dir, 3, stallFS)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	_, _ = m.Save(testCheckpoint(2))
	fmt.Println("ERROR the save was not interrupted")
	os.Exit(1)
}

// TestKillDuringSave kills (SIGKILL) a process in the middle of writing a checkpoint: the
// previous checkpoint stays the loadable latest, and the partial temporary file is removed
// by the next Manager.
func TestKillDuringSave(t *testing.T) {
	dir := t.TempDir()
	cmd, out := testproc.Start(t, "TestKillHelper", killHelperEnv, dir)
	sc := bufio.NewScanner(out)
	reached := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ERROR") {
			t.Fatalf("helper: %s", line)
		}
		if line == "MIDSAVE" {
			reached = true
			break
		}
	}
	if !reached {
		t.Fatal("helper exited before reaching the middle of the save")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	_ = cmd.Wait()

	if tmp := tempFiles(t, dir); len(tmp) != 1 {
		t.Fatalf("expected the partial temporary file of the killed save, found %v", tmp)
	}
	latest, err := Latest(dir)
	if err != nil || filepath.Base(latest) != FileName(1) {
		t.Fatalf("Latest after kill = %q, %v", latest, err)
	}
	c, err := Load(latest)
	if err != nil || c.State.GlobalStep != 1 {
		t.Fatalf("Load after kill: %v", err)
	}
	if _, err := NewManager(dir, 3, nil); err != nil {
		t.Fatal(err)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Fatalf("stale temporary files not cleaned: %v", tmp)
	}
}

func TestResolve(t *testing.T) {
	run := t.TempDir()
	dir := filepath.Join(run, "checkpoints")
	_, saved := saveSteps(t, dir, 2, 3)
	p := saved[0]
	for _, ref := range []string{"latest", p, dir, run} {
		got, err := Resolve(ref, dir)
		if err != nil || got != p {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, p)
		}
	}
	if _, err := Resolve(filepath.Join(run, "missing"), dir); err == nil {
		t.Error("a missing path must be an error")
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	m, saved := saveSteps(t, dir, 3, 4)
	p1 := saved[0]
	r, err := Inspect(p1)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tensors) != 4 || r.State.GlobalStep != 4 || len(r.Digest) != 64 {
		t.Fatalf("report %+v", r)
	}
	// The tensor digest is the sha256 of the raw bytes: int64 4, little-endian.
	for _, ti := range r.Tensors {
		if ti.Name == "opt_g/count" {
			want, _ := TensorDigest(tensors.FromScalar(int64(4)))
			if ti.Digest != want || ti.DType != dtypes.Int64 || len(ti.Shape) != 0 {
				t.Fatalf("count info %+v", ti)
			}
		}
	}
	// Same tensors, different step counters: same digest. Different tensors: different digest.
	c := testCheckpoint(4)
	c.State.GlobalStep = 5
	p2, err := m.Save(c)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Inspect(p2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Digest != r.Digest {
		t.Fatal("equal tensors must give equal digests")
	}
	r3, err := Inspect(func() string { p, _ := m.Save(testCheckpoint(6)); return p }())
	if err != nil {
		t.Fatal(err)
	}
	if r3.Digest == r.Digest {
		t.Fatal("different tensors must give different digests")
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"global step     4", "integrity       ok", `"g":2`, `"d":2`, `{"epoch":0,"row":16}`, "student/blocks.0.w", "[2 3]", "BFloat16", r.Digest} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report text lacks %q:\n%s", want, buf.String())
		}
	}
	if r4, err := Inspect(dir); err != nil || r4.State.GlobalStep != 6 {
		t.Fatalf("Inspect(folder) = %v, %v", r4, err)
	}
}

func TestDiffConfig(t *testing.T) {
	a := map[string]string{"train.lr": "1", "train.max_hours": "3", "model.depth": "2", "gone": "x"}
	b := map[string]string{"train.lr": "2", "train.max_hours": "4", "model.depth": "2", "new": "y"}
	got := DiffConfig(a, b, func(k string) bool { return k == "train.max_hours" })
	if !slices.Equal(got, []string{"gone", "new", "train.lr"}) {
		t.Fatalf("diff %v", got)
	}
}
