package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Measurement names, in the order Run takes them.
const (
	StepFM = "fm_step"
	StepG  = "g_step"
	StepD  = "d_step"
	Sample = "sample" // followed by the number of steps: sample_1, sample_2, sample_4
)

// Options configure Run.
type Options struct {
	// Batch is the batch size; 0 takes train.batch_size.
	Batch int
	// PeakTFLOPS is the device peak MFU is measured against; 0 uses the known peak of the
	// device (H100, H200, A100) for the compute dtype, else MFU is not reported.
	PeakTFLOPS float64
	// Repeats is the number of timed executions of each measurement after one untimed warm-up
	// (default 3); the median is reported.
	Repeats int
	// Only lists the measurements to take (fm_step, g_step, d_step, sample); empty: all.
	Only []string
	// SampleSteps are the sampler's step counts (default 1, 2, 4).
	SampleSteps []int
	// Seed seeds the random weights and inputs.
	Seed int64
	// Progress receives one line per measurement (nil: none).
	Progress io.Writer
}

// Row is one measurement.
type Row struct {
	Name string `json:"name"`
	// CompileSeconds is the time to build and compile the graph.
	CompileSeconds float64 `json:"compile_s"`
	// StepSeconds is the median execution time (host inputs in, scalars out).
	StepSeconds float64 `json:"step_s"`
	// SamplesPerSecond is batch / StepSeconds.
	SamplesPerSecond float64 `json:"samples_per_s"`
	// ModelTFLOP is the model FLOPs of one execution, in TFLOP (see flops.go).
	ModelTFLOP float64 `json:"model_tflop"`
	// TFLOPS is ModelTFLOP / StepSeconds.
	TFLOPS float64 `json:"tflops"`
	// MFU is TFLOPS / peak; null without a peak.
	MFU *float64 `json:"mfu"`
	// DeviceMemoryBytes is XLA's compile-time estimate of the executable's device memory;
	// null where the backend does not report it.
	DeviceMemoryBytes *int64 `json:"device_memory_bytes"`
	// Loss is the loss of the last timed step (steps only), a sanity check.
	Loss *float64 `json:"loss,omitempty"`
}

// Report is the result of Run.
type Report struct {
	Backend           string  `json:"backend"`
	Devices           int     `json:"devices"`
	Device            string  `json:"device"`
	Model             string  `json:"model"`
	Parameters        int64   `json:"student_parameters"`
	Batch             int     `json:"batch"`
	Latent            []int   `json:"latent"`
	Caption           []int   `json:"caption"`
	ComputeDType      string  `json:"compute_dtype"`
	Precision         string  `json:"precision"`
	GradCheckpointing bool    `json:"grad_checkpointing"`
	PeakTFLOPS        float64 `json:"peak_tflops"`
	ForwardGFLOP      float64 `json:"forward_gflop_per_sample"`
	Rows              []Row   `json:"rows"`
}

// deviceDescriber is implemented by backends that describe their devices (XLA).
type deviceDescriber interface {
	DeviceDescription(compute.DeviceNum) string
}

// Run measures the steps of cfg on backend with random weights at cfg's shapes.
func Run(backend compute.Backend, cfg *config.Config, opts Options) (*Report, error) {
	mcfg, err := cfg.Model.ResolvedValid()
	if err != nil {
		return nil, err
	}
	compute, err := mcfg.ComputeDType()
	if err != nil {
		return nil, err
	}
	if opts.Repeats <= 0 {
		opts.Repeats = 3
	}
	if len(opts.SampleSteps) == 0 {
		opts.SampleSteps = []int{1, 2, 4}
	}
	batch := opts.Batch
	if batch <= 0 {
		batch = cfg.Train.BatchSize
	}
	if batch <= 0 {
		return nil, fmt.Errorf("bench: batch must be > 0 (--batch or train.batch_size)")
	}
	for _, o := range opts.Only {
		if !slices.Contains([]string{StepFM, StepG, StepD, Sample}, o) {
			return nil, fmt.Errorf("bench: unknown measurement %q (want %s, %s, %s or %s)", o, StepFM, StepG, StepD, Sample)
		}
	}
	want := func(name string) bool { return len(opts.Only) == 0 || slices.Contains(opts.Only, name) }

	rep := &Report{
		Backend: backend.Name(), Devices: backend.NumDevices(), Device: backend.Description(),
		Model: mcfg.Preset, Batch: batch, Latent: []int{mcfg.InChannels, mcfg.LatentSize, mcfg.LatentSize},
		Caption: []int{mcfg.CaptionLen, mcfg.CaptionDim}, ComputeDType: compute.String(), Precision: cfg.Train.Precision,
		GradCheckpointing: mcfg.GradCheckpointing, PeakTFLOPS: opts.PeakTFLOPS,
	}
	if d, ok := backend.(deviceDescriber); ok {
		rep.Device = d.DeviceDescription(0)
	}
	if rep.PeakTFLOPS == 0 {
		rep.PeakTFLOPS = peakFor(rep.Device, compute)
	}
	if rep.Model == "" {
		rep.Model = "(custom)"
	}
	_, rep.Parameters = model.CountParams(model.ParamSpecs(mcfg, model.Student))
	fwd := model.ForwardFLOPs(mcfg, mcfg.LatentSize, mcfg.CaptionLen)
	rep.ForwardGFLOP = fwd / 1e9

	w, err := newWorld(cfg, mcfg, compute, batch, opts.Seed)
	if err != nil {
		return nil, err
	}
	progress := func(r Row) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "bench %s: compile %.2fs, step %.4gs\n", r.Name, r.CompileSeconds, r.StepSeconds)
		}
	}
	add := func(r Row, passes float64) {
		r.ModelTFLOP = passes * float64(batch) * fwd / 1e12
		if r.StepSeconds > 0 {
			r.SamplesPerSecond = float64(batch) / r.StepSeconds
			r.TFLOPS = r.ModelTFLOP / r.StepSeconds
			if rep.PeakTFLOPS > 0 {
				m := r.TFLOPS / rep.PeakTFLOPS
				r.MFU = &m
			}
		}
		rep.Rows = append(rep.Rows, r)
		progress(r)
	}
	dcfg := cfg.Distill
	if want(StepFM) {
		loss, err := distill.FlowMatchingLoss(dcfg, mcfg)
		if err != nil {
			return nil, err
		}
		r, err := w.timeStep(backend, cfg, StepFM, loss, w.teacherTrained, nil, nil, opts.Repeats)
		if err != nil {
			return nil, err
		}
		add(r, fmPasses())
	}
	if want(StepG) {
		loss, err := distill.GeneratorLoss(dcfg, mcfg, distill.PhaseRatio{G: cfg.Train.PhaseRatio.G, D: cfg.Train.PhaseRatio.D})
		if err != nil {
			return nil, err
		}
		frozen := map[string]train.Group{distill.TeacherGroup: w.teacher}
		var bufs train.Group
		if dcfg.LADD() {
			frozen[distill.HeadsGroup] = w.heads
			bufs = w.sn
		}
		r, err := w.timeStep(backend, cfg, StepG, loss, w.student, frozen, bufs, opts.Repeats)
		if err != nil {
			return nil, err
		}
		add(r, gPasses(dcfg, batch))
	}
	if want(StepD) && dcfg.LADD() {
		loss, err := distill.DiscriminatorLoss(dcfg, mcfg)
		if err != nil {
			return nil, err
		}
		frozen := map[string]train.Group{distill.TeacherGroup: w.teacher, distill.StudentGroup: w.student}
		r, err := w.timeStep(backend, cfg, StepD, loss, w.heads, frozen, w.sn, opts.Repeats)
		if err != nil {
			return nil, err
		}
		add(r, dPasses(dcfg, batch))
	}
	if want(Sample) {
		for _, k := range opts.SampleSteps {
			r, err := w.timeSampler(backend, mcfg, k, opts.Repeats)
			if err != nil {
				return nil, err
			}
			add(r, float64(k))
		}
	}
	return rep, nil
}

// world holds the random networks and the batch of a benchmark.
type world struct {
	teacher        train.Group // frozen, in the compute dtype
	teacherTrained train.Group // the teacher in the trained dtype (flow-matching step)
	student        train.Group // in the trained dtype
	heads, sn      train.Group
	batch          map[string]*tensors.Tensor
}

func newWorld(cfg *config.Config, mcfg model.Config, computeDT dtypes.DType, batch int, seed int64) (*world, error) {
	tcfg, err := mcfg.WithDType(cfg.Train.TrainedDType(computeDT))
	if err != nil {
		return nil, err
	}
	teacher, err := model.InitParams(tcfg, model.Teacher, seed)
	if err != nil {
		return nil, err
	}
	student, err := model.StudentFromTeacher(tcfg, teacher, seed+1)
	if err != nil {
		return nil, err
	}
	frozen, err := model.ConvertParams(teacher, computeDT)
	if err != nil {
		return nil, err
	}
	w := &world{teacher: train.Group(frozen), teacherTrained: train.Group(teacher), student: train.Group(student)}
	if cfg.Distill.LADD() {
		h, sn, err := distill.InitHeads(cfg.Distill, mcfg, seed+2)
		if err != nil {
			return nil, err
		}
		w.heads, w.sn = train.Group(h), train.Group(sn)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xbe7c4))
	randn := func(dims ...int) *tensors.Tensor {
		t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
		tensors.MustMutableFlatData(t, func(f []float32) {
			for i := range f {
				f[i] = float32(rng.NormFloat64())
			}
		})
		return t
	}
	c, s, l, dc := mcfg.InChannels, mcfg.LatentSize, mcfg.CaptionLen, mcfg.CaptionDim
	mask := tensors.FromShape(shapes.Make(dtypes.Float32, batch, l))
	tensors.MustMutableFlatData(mask, func(f []float32) {
		for i := range f {
			f[i] = 1
		}
	})
	b, err := distill.NewBatch(randn(batch, c, s, s), randn(batch, l, dc), mask, randn(1, l, dc))
	if err != nil {
		return nil, err
	}
	w.batch = b.Tensors()
	return w, nil
}

// timeStep compiles one phase's step, runs it once untimed and repeats times timed, donating
// the weights and optimizer state as a run does, and returns the row.
func (w *world) timeStep(backend compute.Backend, cfg *config.Config, name string, loss train.LossFn,
	trainable train.Group, frozenGroups map[string]train.Group, buffers train.Group, repeats int) (Row, error) {
	opt, err := train.NewOptimizer(cfg.Train.Optimizer)
	if err != nil {
		return Row{}, err
	}
	st := train.NewStepper(backend, name, loss, opt, cfg.Train.GradClip)
	var frozen train.Group
	if len(frozenGroups) > 0 {
		names := make([]string, 0, len(frozenGroups))
		for n := range frozenGroups {
			names = append(names, n)
		}
		if frozen, err = train.Flatten(frozenGroups, names...); err != nil {
			return Row{}, err
		}
	}
	state := opt.InitState(trainable)
	params := trainable
	var last float64 // the loss of the last step
	lr, _ := cfg.Train.BaseLR()
	compile := func() (*Graph, error) { return st.Compile(params, frozen, buffers, state, w.batch) }
	row, err := timed(name, repeats, compile, func(i int) error {
		// The first step's inputs are the world's (shared with the other measurements): not donated.
		d := train.Donation{Trainable: i > 0, OptState: i > 0}
		res, err := st.StepDonating(d, params, frozen, buffers, state, w.batch, train.StepRNG(1, int64(i), 0, 0), lr, int64(i))
		if err != nil {
			return err
		}
		params, state, last = res.Trainable, res.OptState, res.Loss
		return nil
	})
	if err != nil {
		return Row{}, err
	}
	row.Loss = &last
	return row, nil
}

// timeSampler compiles the student's k-step sampler and times it.
func (w *world) timeSampler(backend compute.Backend, mcfg model.Config, k, repeats int) (Row, error) {
	name := fmt.Sprintf("%s_%d", Sample, k)
	sch := model.Schedule(k, model.DefaultThetaMax, model.DefaultThetaMid)
	names, values := model.Params(w.student).Sorted()
	exec, err := NewExec(backend, func(in []*Node) []*Node {
		wts := model.CastWeights(mcfg, model.WeightsFromNodes(names, in[:len(names)]))
		n := len(names)
		noise, text, mask, rng := in[n], in[n+1], in[n+2], in[n+3]
		guidance := BroadcastToDims(Scalar(noise.Graph(), noise.DType(), 4.5), noise.Shape().Dimensions[0])
		latent, _ := distill.StudentSampleGraph(mcfg, wts, noise, text, mask, guidance, rng, sch)
		return []*Node{latent}
	})
	if err != nil {
		return Row{}, err
	}
	defer exec.Finalize()
	rng, err := RNGStateFromSeed(7)
	if err != nil {
		return Row{}, err
	}
	args := make([]any, 0, len(values)+4)
	for _, v := range values {
		args = append(args, v)
	}
	args = append(args, w.batch[distill.BatchLatent], w.batch[distill.BatchText], w.batch[distill.BatchMask], rng)
	argShapes := make([]shapes.Shape, len(args))
	for i, a := range args {
		argShapes[i] = a.(*tensors.Tensor).Shape()
	}
	return timed(name, repeats, func() (*Graph, error) { return exec.Compile(argShapes...) }, func(int) error {
		out, err := exec.Exec(args...)
		if err != nil {
			return err
		}
		// Reading the result waits for the device.
		return out[0].ConstBytes(func([]byte) {})
	})
}

// timed measures name: it times compile (and reads the compiled graph's device memory), then
// runs run repeats+1 times, i from 0, and keeps the median time of all runs but the first as
// the step time.
func timed(name string, repeats int, compile func() (*Graph, error), run func(i int) error) (Row, error) {
	start := time.Now()
	g, err := compile()
	if err != nil {
		return Row{}, fmt.Errorf("bench %s: %w", name, err)
	}
	row := Row{Name: name, CompileSeconds: time.Since(start).Seconds()}
	if m, ok := deviceMemory(g); ok {
		row.DeviceMemoryBytes = &m
	}
	var times []float64
	for i := range repeats + 1 {
		t0 := time.Now()
		if err := run(i); err != nil {
			return Row{}, fmt.Errorf("bench %s: %w", name, err)
		}
		if i > 0 {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	row.StepSeconds = median(times)
	return row, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteTable prints the report as a table.
func (r *Report) WriteTable(out io.Writer) {
	fmt.Fprintf(out, "backend %s (%d device(s)): %s\n", r.Backend, r.Devices, r.Device)
	fmt.Fprintf(out, "model %s: %s student parameters, batch %d, latent %v, caption %v, compute %s, precision %s, grad_checkpointing %v\n",
		r.Model, thousands(r.Parameters), r.Batch, r.Latent, r.Caption, r.ComputeDType, r.Precision, r.GradCheckpointing)
	peak := "n/a (give --peak-tflops)"
	if r.PeakTFLOPS > 0 {
		peak = fmt.Sprintf("%.4g TFLOP/s", r.PeakTFLOPS)
	}
	fmt.Fprintf(out, "forward %.4g GFLOP per sample; peak %s\n\n", r.ForwardGFLOP, peak)
	fmt.Fprintf(out, "%-10s %10s %10s %11s %12s %9s %7s %12s\n", "what", "compile s", "step s", "samples/s", "model TFLOP", "TFLOP/s", "MFU", "device mem")
	for _, row := range r.Rows {
		mfu, mem := "n/a", "n/a"
		if row.MFU != nil {
			mfu = fmt.Sprintf("%.1f%%", 100**row.MFU)
		}
		if row.DeviceMemoryBytes != nil {
			mem = fmt.Sprintf("%.2f GiB", float64(*row.DeviceMemoryBytes)/(1<<30))
		}
		fmt.Fprintf(out, "%-10s %10.2f %10.4g %11.4g %12.4g %9.4g %7s %12s\n", row.Name, row.CompileSeconds, row.StepSeconds,
			row.SamplesPerSecond, row.ModelTFLOP, row.TFLOPS, mfu, mem)
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(out io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
