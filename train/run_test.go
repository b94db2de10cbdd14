package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/internal/testproc"
)

// The tiny model of the run tests: a 2-layer MLP "student" regressing y from x, a small
// "heads" discriminator on scalars with a running-mean buffer, trained G:D = 2:1.

const (
	tinyBatch = 4
	tinyIn    = 3
	tinyHid   = 5
)

func tinyTensor(dims []int, seed float64) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(0.5 * math.Sin(seed+1.7*float64(i)))
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func tinyGroups() map[string]Group {
	return map[string]Group{
		"student": {
			"w1": tinyTensor([]int{tinyIn, tinyHid}, 1), "b1": tinyTensor([]int{tinyHid}, 2),
			"w2": tinyTensor([]int{tinyHid, 1}, 3), "b2": tinyTensor([]int{1}, 4),
		},
		"heads": {"v": tinyTensor([]int{1, 3}, 5), "c": tinyTensor([]int{3}, 6), "u": tinyTensor([]int{3, 1}, 7)},
		"hbuf":  {"running_mean": tensors.FromScalar(float32(0))},
	}
}

// student(x) = relu(x·w1 + b1)·w2 + b2, shape [B, 1].
func tinyStudent(p map[string]*graph.Node, x *graph.Node) *graph.Node {
	h := graph.Max(graph.Add(graph.MatMul(x, p["w1"]), graph.InsertAxes(p["b1"], 0)), graph.ScalarZero(x.Graph(), x.DType()))
	return graph.Add(graph.MatMul(h, p["w2"]), graph.InsertAxes(p["b2"], 0))
}

// disc(z) = relu(z·v + c)·u, shape [B, 1].
func tinyDisc(p map[string]*graph.Node, z *graph.Node) *graph.Node {
	h := graph.Max(graph.Add(graph.MatMul(z, p["v"]), graph.InsertAxes(p["c"], 0)), graph.ScalarZero(z.Graph(), z.DType()))
	return graph.MatMul(h, p["u"])
}

func tinyGLoss(g *graph.Graph, in StepInputs) StepOutputs {
	x, y := in.Batch["x"], in.Batch["y"]
	_, noise := graph.RandomNormal(in.Rng, x.Shape())
	pred := tinyStudent(in.Trainable, graph.Add(x, graph.MulScalar(noise, 0.01)))
	mse := graph.ReduceAllMean(graph.Square(graph.Sub(pred, y)))
	adv := graph.ReduceAllMean(tinyDisc(Sub(in.Frozen, "heads"), pred))
	return StepOutputs{Loss: graph.Sub(mse, graph.MulScalar(adv, 0.01)), Metrics: map[string]*graph.Node{"mse": mse}}
}

func tinyDLoss(g *graph.Graph, in StepInputs) StepOutputs {
	x, y := in.Batch["x"], in.Batch["y"]
	fake := graph.StopGradient(tinyStudent(Sub(in.Frozen, "student"), x))
	real := tinyDisc(in.Trainable, y)
	relu := func(v *graph.Node) *graph.Node { return graph.Max(v, graph.ZerosLike(v)) }
	loss := graph.Add(graph.ReduceAllMean(relu(graph.OneMinus(real))), graph.ReduceAllMean(relu(graph.AddScalar(tinyDisc(in.Trainable, fake), 1))))
	mean := graph.ReduceAllMean(real)
	rm := graph.Add(graph.MulScalar(in.Buffers["running_mean"], 0.9), graph.MulScalar(graph.StopGradient(mean), 0.1))
	return StepOutputs{Loss: loss, Metrics: map[string]*graph.Node{"d_real": mean}, Buffers: map[string]*graph.Node{"running_mean": rm}}
}

// fakeSource yields deterministic batches; batch nanAt has a NaN input. After cancelAfter
// calls of Next it cancels the run's context (as a SIGINT during that step would).
type fakeSource struct {
	i           int
	nanAt       int
	calls       int
	cancelAfter int
	cancel      context.CancelFunc
	delay       time.Duration
	onNext      func(i int)
}

type fakePos struct {
	I int `json:"i"`
}

func (s *fakeSource) Next() (map[string]*tensors.Tensor, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.calls++
	if s.cancel != nil && s.calls == s.cancelAfter {
		s.cancel()
	}
	if s.onNext != nil {
		s.onNext(s.i)
	}
	x := make([]float32, tinyBatch*tinyIn)
	y := make([]float32, tinyBatch)
	for b := range tinyBatch {
		sum := float32(0)
		for j := range tinyIn {
			v := float32(math.Cos(float64(s.i*7+b*3+j) * 0.37))
			x[b*tinyIn+j] = v
			sum += v
		}
		y[b] = 0.5*sum + 0.1
	}
	if s.i == s.nanAt {
		x[0] = float32(math.NaN())
	}
	s.i++
	return map[string]*tensors.Tensor{
		"x": tensors.FromFlatDataAndDimensions(x, tinyBatch, tinyIn),
		"y": tensors.FromFlatDataAndDimensions(y, tinyBatch, 1),
	}, nil
}

func (s *fakeSource) Position() json.RawMessage {
	b, _ := json.Marshal(fakePos{s.i})
	return b
}

func (s *fakeSource) Restore(raw json.RawMessage) error {
	var p fakePos
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	s.i = p.I
	return nil
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Name = "tiny"
	c.MaxSteps = 12
	c.BatchSize = tinyBatch
	c.Optimizer = OptimizerConfig{Type: "came", LR: 0.05, Betas: []float64{0.9, 0.999, 0.9999}, Eps: []float64{1e-30, 1e-16}, ClipThreshold: 1}
	c.LRSchedule = ScheduleConfig{Type: "cosine", WarmupSteps: 2, StepOn: "g"}
	c.AutoLR = "none"
	c.GradClip = 1.0
	c.EMA = EMAConfig{Enabled: true, Decay: 0.9, Group: "student"}
	c.CheckpointEvery = 4
	c.KeepLast = 2
	c.ValidateEvery = 6
	c.LogEvery = 2
	c.Seed = 7
	c.PhaseRatio = PhaseRatio{G: 2, D: 1}
	return c
}

func tinyLogConfig() LogConfig {
	lc := DefaultLogConfig()
	lc.Console = false
	return lc
}

// tinyPhases builds G with NewPhase (CAME, cosine schedule) and D by hand with AdamW and a buffer.
func tinyPhases(t *testing.T, cfg Config) []Phase {
	t.Helper()
	gPhase, err := NewPhase(testBackend(t), cfg, PhaseSpec{Name: "g", Loss: tinyGLoss, Trainable: "student",
		Frozen: []string{"heads"}, Repeat: cfg.PhaseRatio.G, Generator: true})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := cfg.BaseLR()
	dPhase := Phase{Name: "d", Stepper: NewStepper(testBackend(t), "d", tinyDLoss, &AdamW{Beta1: 0.5, Beta2: 0.9, Eps: 1e-8, WeightDecay: 0.01}, cfg.GradClip),
		Trainable: "heads", Frozen: []string{"student"}, Buffers: "hbuf", Repeat: cfg.PhaseRatio.D, LR: ConstantWithWarmup(base, 0)}
	return []Phase{gPhase, dPhase}
}

func tinyValidator() Validator {
	return ValidatorFunc(func(_ context.Context, step int64, groups map[string]Group) (Validation, error) {
		if _, ok := groups["student"]; !ok {
			return Validation{}, errors.New("no student")
		}
		var imgs []image.Image
		for i := range 3 {
			img := image.NewRGBA(image.Rect(0, 0, 4, 4))
			for p := range img.Pix {
				img.Pix[p] = uint8(int(step)*20 + i*60)
			}
			imgs = append(imgs, img)
		}
		return Validation{Images: map[string][]image.Image{"1step": imgs, "2step": imgs[:2]}, Scalars: map[string]float64{"score": float64(step)}}, nil
	})
}

func tinyOptions(t *testing.T, dir string, cfg Config, src BatchSource) RunOptions {
	t.Helper()
	return RunOptions{
		Dir: dir, Config: cfg, Log: tinyLogConfig(),
		ConfigYAML: []byte(fmt.Sprintf("train:\n  max_steps: %d\n  optimizer:\n    lr: %g\n", cfg.MaxSteps, cfg.Optimizer.LR)),
		ConfigFlat: map[string]string{"train.max_steps": fmt.Sprint(cfg.MaxSteps), "train.optimizer.lr": fmt.Sprint(cfg.Optimizer.LR),
			"train.max_hours": fmt.Sprint(cfg.MaxHours)},
		Backend: testBackend(t), Groups: tinyGroups(), Phases: tinyPhases(t, cfg), Data: src,
		Validator: tinyValidator(), Console: io.Discard,
	}
}

func runTiny(t *testing.T, ctx context.Context, opts RunOptions) (Result, *Run, error) {
	t.Helper()
	r, err := NewRun(ctx, opts)
	if err != nil {
		return Result{}, nil, err
	}
	res, err := r.Execute(ctx)
	return res, r, err
}

// groupDigests maps "<group>/<name>" to the sha256 of the tensor's bytes.
func groupDigests(t *testing.T, groups map[string]Group) map[string]string {
	t.Helper()
	out := map[string]string{}
	for gn, g := range groups {
		for n, tt := range g {
			d, err := checkpoints.TensorDigest(tt)
			if err != nil {
				t.Fatal(err)
			}
			out[gn+"/"+n] = d
		}
	}
	return out
}

// TestExactResume: a run interrupted after k batches and resumed from its checkpoint ends
// with bitwise the same weights, optimizer states, buffers and EMA as an uninterrupted run,
// for cut points inside and at the end of a G,G,D cycle, with a skipped (NaN) step included.
func TestExactResume(t *testing.T) {
	cfg := tinyConfig()
	refDir := t.TempDir()
	refRes, ref, err := runTiny(t, context.Background(), tinyOptions(t, refDir, cfg, &fakeSource{nanAt: 4}))
	if err != nil {
		t.Fatal(err)
	}
	if refRes.Outcome != OutcomeCompleted || refRes.GlobalStep != 12 {
		t.Fatalf("reference run: %+v", refRes)
	}
	want := groupDigests(t, ref.Groups())
	for _, g := range []string{"student/w1", "heads/u", "hbuf/running_mean", "opt_g/count", "opt_g/exp_avg_sq_row/w1",
		"opt_d/count", "opt_d/exp_avg/u", "ema_student/w1"} {
		if _, ok := want[g]; !ok {
			t.Fatalf("the run's groups lack %s", g)
		}
	}
	refCkpt, err := checkpoints.Load(refRes.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	refLoop, err := LoopStateOf(refCkpt)
	if err != nil || refLoop.Skipped != 1 || refLoop.PhaseSteps["g"] != 8 || refLoop.PhaseSteps["d"] != 4 || !refLoop.Completed {
		t.Fatalf("reference state %+v (%v)", refLoop, err)
	}

	for _, cut := range []int{3, 5, 8} {
		t.Run(fmt.Sprintf("cut%d", cut), func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res1, _, err := runTiny(t, ctx, tinyOptions(t, dir, cfg, &fakeSource{nanAt: 4, cancel: cancel, cancelAfter: cut}))
			if err != nil {
				t.Fatal(err)
			}
			if res1.Outcome != OutcomeInterrupted || res1.Outcome.ExitCode() != ExitOK || res1.GlobalStep >= 12 {
				t.Fatalf("first part: %+v", res1)
			}
			if st, err := ReadStatus(dir); err != nil || st.State != "interrupted" {
				t.Fatalf("status %+v, %v", st, err)
			}
			opts := tinyOptions(t, dir, cfg, &fakeSource{nanAt: 4})
			opts.Resume = "latest"
			res2, r2, err := runTiny(t, context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res2.Outcome != OutcomeCompleted || res2.GlobalStep != 12 {
				t.Fatalf("second part: %+v", res2)
			}
			got := groupDigests(t, r2.Groups())
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s differs after resume at batch %d", k, cut)
				}
			}
			rep, err := checkpoints.Inspect(res2.Checkpoint)
			if err != nil {
				t.Fatal(err)
			}
			refRep, err := checkpoints.Inspect(refRes.Checkpoint)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Digest != refRep.Digest {
				t.Error("final checkpoints differ")
			}
		})
	}

	// The run folder holds what a person looks at.
	for _, name := range []string{"config.yaml", "metrics.jsonl", "train.log", "status.json", "checkpoints/latest",
		"samples/step-000000006-1step.png", "samples/step-000000012-2step.png"} {
		if _, err := os.Stat(filepath.Join(refDir, name)); err != nil {
			t.Errorf("run folder: %v", err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(refDir, "events.out.tfevents.*")); len(m) != 1 {
		t.Errorf("tensorboard files %v", m)
	}
	ckpts, _ := checkpoints.List(filepath.Join(refDir, "checkpoints"))
	if len(ckpts) != 2 {
		t.Errorf("keep_last 2: %v", ckpts)
	}
	b, _ := os.ReadFile(filepath.Join(refDir, "metrics.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last map[string]any
	for _, l := range lines {
		var row map[string]any
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatal(err)
		}
		if _, ok := row["g/loss"]; ok {
			last = row
		}
	}
	for _, k := range []string{"g/loss", "g/mse", "g/grad_norm", "g/lr", "d/loss", "d/d_real", "global_step", "steps_per_sec"} {
		if _, ok := last[k]; !ok && k != "d/loss" && k != "d/d_real" {
			t.Errorf("metrics row lacks %s: %v", k, last)
		}
	}
	log, _ := os.ReadFile(filepath.Join(refDir, "train.log"))
	if !strings.Contains(string(log), "skipped") || !strings.Contains(string(log), "step 12/12") {
		t.Errorf("train.log:\n%s", log)
	}
}

// TestLRScheduleStepsOnG: with step_on g, the G phase follows the cosine schedule by G
// steps and D keeps the base lr; the lr logged for G at its k-th step is schedule(k).
func TestLRScheduleStepsOnG(t *testing.T) {
	cfg := tinyConfig()
	cfg.LogEvery = 1
	cfg.EMA.Enabled = false
	rec := &recordSink{}
	opts := tinyOptions(t, t.TempDir(), cfg, &fakeSource{nanAt: -1})
	opts.Sinks = append(opts.Sinks, rec)
	opts.Validator = nil
	if _, _, err := runTiny(t, context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	sched := CosineWithWarmup(0.05, 2, cfg.ScheduledSteps())
	gSteps := int64(0)
	for _, row := range rec.rows {
		if lr, ok := row["g/lr"]; ok {
			if want := sched(gSteps); lr != want {
				t.Fatalf("G lr at its step %d = %g, want %g", gSteps, lr, want)
			}
			gSteps++
		}
		if lr, ok := row["d/lr"]; ok && lr != 0.05 {
			t.Fatalf("D lr %g, want the base 0.05", lr)
		}
	}
	if gSteps != 8 {
		t.Fatalf("%d G rows", gSteps)
	}
}

type recordSink struct{ rows []map[string]float64 }

func (s *recordSink) Scalars(_ int64, v map[string]float64) error {
	s.rows = append(s.rows, v)
	return nil
}
func (s *recordSink) Images(int64, map[string]image.Image) error { return nil }
func (s *recordSink) Close() error                               { return nil }

func TestResumeConfigChange(t *testing.T) {
	cfg := tinyConfig()
	cfg.MaxSteps = 4
	dir := t.TempDir()
	if _, _, err := runTiny(t, context.Background(), tinyOptions(t, dir, cfg, &fakeSource{nanAt: -1})); err != nil {
		t.Fatal(err)
	}
	// A fresh start in a folder with checkpoints is refused.
	if _, err := NewRun(context.Background(), tinyOptions(t, dir, cfg, &fakeSource{})); err == nil || !strings.Contains(err.Error(), "--resume latest") {
		t.Fatalf("fresh start over a run: %v", err)
	}
	changed := cfg
	changed.Optimizer.LR = 0.01
	changed.MaxSteps = 8
	changed.MaxHours = 5 // neutral: not reported
	opts := tinyOptions(t, dir, changed, &fakeSource{})
	opts.Resume = "latest"
	_, err := NewRun(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "train.max_steps, train.optimizer.lr") || strings.Contains(err.Error(), "max_hours") ||
		!strings.Contains(err.Error(), "--allow-config-change") {
		t.Fatalf("config change error: %v", err)
	}
	opts.AllowConfigChange = true
	res, _, err := runTiny(t, context.Background(), opts)
	if err != nil || res.GlobalStep != 8 {
		t.Fatalf("resume with --allow-config-change: %+v, %v", res, err)
	}
	// A key the checkpoint lacks (added by a later version) is a change unless it is at its
	// default; at its default the run resumes (here a completed run, which completes again).
	for _, tc := range []struct {
		value   string
		refused bool
	}{{"4", true}, {"1", false}} {
		opts = tinyOptions(t, dir, changed, &fakeSource{})
		opts.Resume = "latest"
		opts.ConfigFlat["train.d_lr_scale"] = tc.value
		opts.ConfigDefaults = map[string]string{"train.d_lr_scale": "1", "train.optimizer.lr": "0.01"}
		res, _, err := runTiny(t, context.Background(), opts)
		refused := err != nil && strings.Contains(err.Error(), "differs from the checkpoint's in train.d_lr_scale")
		if refused != tc.refused || (!tc.refused && (err != nil || res.GlobalStep != 8)) {
			t.Fatalf("new key train.d_lr_scale=%s (default 1): %+v, %v", tc.value, res, err)
		}
	}
	// Resuming a completed run does nothing and completes again.
	opts = tinyOptions(t, dir, changed, &fakeSource{})
	opts.Resume, opts.AllowConfigChange = "auto", true
	res, _, err = runTiny(t, context.Background(), opts)
	if err != nil || res.Outcome != OutcomeCompleted || res.GlobalStep != 8 {
		t.Fatalf("resume of a completed run: %+v, %v", res, err)
	}
}

func TestTimeBudget(t *testing.T) {
	cfg := tinyConfig()
	cfg.MaxHours = 1
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := &fakeSource{nanAt: -1}
	opts := tinyOptions(t, t.TempDir(), cfg, src)
	opts.Clock = func() time.Time { return now }
	src.onNext = func(i int) {
		if i == 2 {
			now = now.Add(61 * time.Minute) // the third step ends past the budget
		}
	}
	res, _, err := runTiny(t, context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeTimeBudget || res.Outcome.ExitCode() != ExitResume || res.GlobalStep != 3 {
		t.Fatalf("result %+v", res)
	}
	c, err := checkpoints.Load(res.Checkpoint)
	if err != nil || c.State.GlobalStep != 3 {
		t.Fatalf("checkpoint %+v, %v", c, err)
	}
	if ls, err := LoopStateOf(c); err != nil || ls.Completed || ls.GlobalStep != 3 {
		t.Fatalf("loop state %+v, %v", ls, err)
	}
	if st, _ := ReadStatus(opts.Dir); st.State != "time_budget" {
		t.Fatalf("status %+v", st)
	}
}

// diskFullFS fails every checkpoint write after the first saves succeeded.
type diskFullFS struct {
	atomicfile.OS
	saves, failFrom int
}

func (f *diskFullFS) CreateTemp(dir, pattern string) (atomicfile.File, error) {
	if strings.Contains(pattern, "step-") {
		f.saves++
		if f.saves >= f.failFrom {
			return nil, fmt.Errorf("injected: %w", syscall.ENOSPC)
		}
	}
	return f.OS.CreateTemp(dir, pattern)
}

func TestCheckpointFailureStopsRunAndKeepsLastGood(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()
	opts := tinyOptions(t, dir, cfg, &fakeSource{nanAt: -1})
	opts.CheckpointFS = &diskFullFS{failFrom: 2}
	res, _, err := runTiny(t, context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Execute error %v", err)
	}
	if res.GlobalStep != 8 {
		t.Fatalf("stopped at %d, want 8 (the second checkpoint)", res.GlobalStep)
	}
	latest, err := checkpoints.Latest(filepath.Join(dir, "checkpoints"))
	if err != nil || filepath.Base(latest) != checkpoints.FileName(4) {
		t.Fatalf("latest %s, %v", latest, err)
	}
	if _, err := checkpoints.Load(latest); err != nil {
		t.Fatal(err)
	}
	st, _ := ReadStatus(dir)
	if st.State != "failed" || !strings.Contains(st.Error, "no space left") {
		t.Fatalf("status %+v", st)
	}
	// The run continues from the last good checkpoint once the disk has room.
	opts = tinyOptions(t, dir, cfg, &fakeSource{nanAt: -1})
	opts.Resume = "latest"
	res, _, err = runTiny(t, context.Background(), opts)
	if err != nil || res.GlobalStep != 12 {
		t.Fatalf("resume after failure: %+v, %v", res, err)
	}
}

func TestUnwritableRunFolder(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := NewRun(context.Background(), tinyOptions(t, filepath.Join(blocker, "run"), tinyConfig(), &fakeSource{}))
	if err == nil || !strings.Contains(err.Error(), "run folder") {
		t.Fatalf("error %v", err)
	}
}

// nanSource yields only NaN batches.
type nanSource struct{ fakeSource }

func (s *nanSource) Next() (map[string]*tensors.Tensor, error) {
	s.nanAt = s.i
	return s.fakeSource.Next()
}

func TestNaNSkipLimit(t *testing.T) {
	cfg := tinyConfig()
	cfg.NaNSkipLimit = 3
	res, _, err := runTiny(t, context.Background(), tinyOptions(t, t.TempDir(), cfg, &nanSource{}))
	if err == nil || !strings.Contains(err.Error(), "3 consecutive steps skipped") || res.GlobalStep != 0 {
		t.Fatalf("result %+v, error %v", res, err)
	}
}

// TestStepperGuard checks the NaN/Inf guard directly: nothing changes and skipped is reported.
func TestStepperGuard(t *testing.T) {
	opt := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	st := NewStepper(testBackend(t), "g", func(g *graph.Graph, in StepInputs) StepOutputs {
		loss := graph.ReduceAllSum(graph.Mul(in.Trainable["w"], in.Batch["x"]))
		return StepOutputs{Loss: loss}
	}, opt, 0)
	w := Group{"w": tensors.FromValue([]float32{1, 2})}
	state := opt.InitState(w)
	rng := StepRNG(1, 0, 0, 0)
	res, err := st.Step(w, nil, nil, state, map[string]*tensors.Tensor{"x": tensors.FromValue([]float32{float32(math.Inf(1)), 1})}, rng, 0.1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Skipped || !math.IsInf(res.GradNorm, 1) {
		t.Fatalf("result %+v", res)
	}
	if !res.Trainable["w"].Equal(w["w"]) || flat64(res.OptState["count"])[0] != 0 {
		t.Fatal("a skipped step changed the parameters or the optimizer state")
	}
	res, err = st.Step(w, nil, nil, state, map[string]*tensors.Tensor{"x": tensors.FromValue([]float32{3, 4})}, rng, 0.1, 0)
	if err != nil || res.Skipped || res.Loss != 11 || res.GradNorm != 5 {
		t.Fatalf("finite step: %+v, %v", res, err)
	}
	// A loss that is not a scalar is an error, not a panic.
	bad := NewStepper(testBackend(t), "bad", func(g *graph.Graph, in StepInputs) StepOutputs {
		return StepOutputs{Loss: in.Trainable["w"]}
	}, opt, 0)
	if _, err := bad.Step(w, nil, nil, state, nil, rng, 0.1, 0); err == nil || !strings.Contains(err.Error(), "scalar") {
		t.Fatalf("non-scalar loss: %v", err)
	}
}

const signalHelperEnv = "SPRINTTEST_SIGNAL_HELPER_DIR"

// TestSignalHelper is the child process of TestSignal: a slow run under SignalContext that
// prints STEP after a few batches and exits with the run's exit code.
func TestSignalHelper(t *testing.T) {
	dir := testproc.Value(t, signalHelperEnv, "TestSignal")
	ctx, stop := SignalContext(context.Background())
	defer stop()
	cfg := tinyConfig()
	cfg.MaxSteps = 100000
	src := &fakeSource{nanAt: -1, delay: 20 * time.Millisecond}
	src.onNext = func(i int) {
		if i == 3 {
			fmt.Println("STEP")
		}
	}
	res, _, err := runTiny(t, ctx, tinyOptions(t, dir, cfg, src))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("OUTCOME", res.Outcome, res.GlobalStep)
	os.Exit(res.Outcome.ExitCode())
}

// TestSignal sends SIGINT to a training child process: it finishes the step, saves a
// checkpoint at the step it reached and exits 0.
func TestSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd, out := testproc.Start(t, "TestSignalHelper", signalHelperEnv, dir)
			sc := bufio.NewScanner(out)
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if sc.Text() == "STEP" {
					if err := cmd.Process.Signal(sig); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child exited with %v; output %v", err, lines)
			}
			last := lines[len(lines)-1]
			var step int64
			if _, err := fmt.Sscanf(last, "OUTCOME interrupted %d", &step); err != nil || step < 3 {
				t.Fatalf("child output %v", lines)
			}
			latest, err := checkpoints.Latest(filepath.Join(dir, "checkpoints"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := checkpoints.Load(latest)
			if err != nil || c.State.GlobalStep != step {
				t.Fatalf("checkpoint at %d, child stopped at %d (%v)", c.State.GlobalStep, step, err)
			}
			if st, _ := ReadStatus(dir); st.State != "interrupted" {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestStepRNG: the same inputs give the same state, any change gives another.
func TestStepRNG(t *testing.T) {
	a := StepRNG(42, 10, 0, 0)
	if !a.Equal(StepRNG(42, 10, 0, 0)) {
		t.Fatal("not deterministic")
	}
	for _, b := range []*tensors.Tensor{StepRNG(43, 10, 0, 0), StepRNG(42, 11, 0, 0), StepRNG(42, 10, 1, 0), StepRNG(42, 10, 0, 1)} {
		if a.Equal(b) {
			t.Fatal("different inputs gave the same RNG state")
		}
	}
	if !a.Shape().Equal(shapes.Make(dtypes.Uint64, graph.RNGStateShape.Dimensions...)) {
		t.Fatalf("shape %s", a.Shape())
	}
}
