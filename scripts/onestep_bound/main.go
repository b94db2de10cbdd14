// Command onestep_bound measures how well the demo's student network can do at one step when
// it is taught the teacher's answer directly: it samples the teacher's 20-step guided ODE from
// fixed noise on prompts of the shapes scenes (not the demo's held-out ones), then trains a
// student initialised from the teacher to map that noise to that sample in one evaluation at
// θ = π/2 (plain regression, x̂0 = cos θ·x − sin θ·σd·F), and exports it so that `sprint demo`
// can score it on the demo's prompts and noise (demo.students).
//
// It is an experiment, not part of the method: sCM learns the same map (the teacher's ODE
// solution from θ = π/2) from the ODE's tangents instead of its end points, so this student's
// accuracy is a reference for what a network of this size reaches at one step given the
// teacher's answers.
//
//	go run ./scripts/onestep_bound -config configs/demo.yaml -pairs 4096 -steps 2400 -out runs/onestep_bound
//	sprint demo --config configs/demo.yaml --set 'demo.variants=[]' \
//	  --set 'demo.students=[runs/onestep_bound/student]' --set demo.dir=runs/demo_bound
package main

import (
	"encoding/gob"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/gomlx/backends/default"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/internal/backendconfig"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "onestep_bound:", err)
		os.Exit(1)
	}
}

// pairs are the noise and the teacher's sample from it, per prompt, in latent units.
type pairs struct {
	Prompts       []string
	Noise, Target []float32 // n × C·H·W
	Size          int       // C·H·W
}

// finalize frees tensors no longer needed at once, instead of when the garbage collector gets to them.
func finalize[M ~map[string]*tensors.Tensor](maps ...M) {
	for _, m := range maps {
		for _, t := range m {
			t.FinalizeAll()
		}
	}
}

func loadPairs(path string) (pairs, error) {
	var p pairs
	f, err := os.Open(path)
	if err != nil {
		return p, err
	}
	defer f.Close()
	return p, gob.NewDecoder(f).Decode(&p)
}

func savePairs(path string, p pairs) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(p); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run() error {
	cfgPath := flag.String("config", "configs/demo.yaml", "the demo config (model, data.shapes, distill, train.optimizer)")
	var sets setFlags
	flag.Var(&sets, "set", "config override a.b=value (repeatable)")
	n := flag.Int("pairs", 4096, "prompt/noise pairs sampled from the teacher")
	teacherSteps := flag.Int("teacher-steps", 20, "Euler steps of the teacher's guided ODE")
	steps := flag.Int("steps", 2400, "student updates")
	batch := flag.Int("batch", 16, "batch size")
	lr := flag.Float64("lr", 3e-4, "peak learning rate (cosine decay, 20 warmup steps)")
	seed := flag.Int64("seed", 42, "seed of the prompts, the noise and the batches")
	out := flag.String("out", "runs/onestep_bound", "output folder (the student is exported to <out>/student)")
	flag.Parse()
	if *n < 16 || *steps < 1 || *batch < 1 || *teacherSteps < 1 || !(*lr > 0) {
		return fmt.Errorf("want -pairs >= 16, -steps, -batch and -teacher-steps >= 1 and -lr > 0; got %d, %d, %d, %d, %g",
			*n, *steps, *batch, *teacherSteps, *lr)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Without a limit the process grew past 20 GB in 2500 updates of the 8-block student;
		// with this soft limit it stayed under 7 GB.
		debug.SetMemoryLimit(6 << 30)
	}

	cfg, err := config.Load(*cfgPath, sets)
	if err != nil {
		return err
	}
	mcfg, err := cfg.Model.Resolved()
	if err != nil {
		return err
	}
	backend, err := compute.NewWithConfig(backendconfig.FromEnv())
	if err != nil {
		return err
	}
	defer backend.Finalize()
	teacher, err := job.LoadTeacher(cfg, mcfg, false)
	if err != nil {
		return err
	}
	sc := cfg.Data.Shapes
	enc, err := sc.TextEncoder()
	if err != nil {
		return err
	}
	w := job.GuidanceScale(cfg.Distill)
	null, _ := enc.EncodeText([]string{""})

	// The pairs: scenes from a seed of their own (neither training rows nor the demo's held-out ones).
	held := sc
	held.Seed = sc.Seed + 7000003 + int(*seed)
	p := pairs{Size: sc.LatentShape()[0] * sc.LatentShape()[1] * sc.LatentShape()[2]}
	for i := range *n {
		p.Prompts = append(p.Prompts, data.Caption(data.SampleScene(held, i)))
	}
	const chunk = 256
	cache := filepath.Join(*out, fmt.Sprintf("pairs_n%d_s%d_t%d.gob", *n, *seed, *teacherSteps))
	// A cache of fewer pairs with the same seed and steps is the start of this one (the noise of a
	// chunk depends only on where it starts).
	for m := *n; m > 0; m -= chunk {
		path := filepath.Join(*out, fmt.Sprintf("pairs_n%d_s%d_t%d.gob", m, *seed, *teacherSteps))
		if cached, err := loadPairs(path); err == nil && cached.Size == p.Size {
			p.Noise, p.Target = cached.Noise, cached.Target
			fmt.Printf("teacher: %d pairs from %s\n", m, path)
			break
		}
	}
	t0 := time.Now()
	first := len(p.Noise) / p.Size
	for start := first; start < *n; start += chunk {
		m := min(chunk, *n-start)
		text, mask := enc.EncodeText(p.Prompts[start : start+m])
		noise := job.FixedNoise(uint64(*seed)*1000003+uint64(start), m, sc.LatentShape())
		lat, err := distill.SampleTeacher(backend, mcfg, teacher, text, mask, null, noise, distill.TeacherSampling{Steps: *teacherSteps, CFGScale: w})
		if err != nil {
			return err
		}
		p.Noise = append(p.Noise, tensors.MustCopyFlatData[float32](noise)...)
		p.Target = append(p.Target, tensors.MustCopyFlatData[float32](lat)...)
		el := time.Since(t0)
		done, per := start+m, el/time.Duration(start+m-first)
		fmt.Printf("teacher: %d/%d pairs, %.1f ms/pair, ETA %s\n", done, *n, float64(per.Microseconds())/1000,
			(per * time.Duration(*n-done)).Round(time.Second))
	}

	if err := savePairs(cache, p); err != nil {
		return err
	}

	// The student, initialised as the demo's distillation initialises it.
	student, err := model.StudentFromTeacher(mcfg, teacher, cfg.Train.Seed)
	if err != nil {
		return err
	}
	opt, err := train.NewOptimizer(cfg.Train.Optimizer)
	if err != nil {
		return err
	}
	// The student's one-step output is the demo's sampler graph at one step (θ from θmax to 0),
	// so that what is trained is what is scored. The logvar head has no part in it: it stays
	// out of the trained group and goes back in for the export.
	sampling := distill.StudentSampling{Steps: 1, Guidance: w}
	schedule := model.Schedule(1, model.DefaultThetaMax, model.DefaultThetaMid)
	logvarHead := model.Params{}
	for name, t := range student {
		if !model.IsDiffusersParam(name) {
			logvarHead[name] = t
			delete(student, name)
		}
	}
	loss := func(g *Graph, in train.StepInputs) train.StepOutputs {
		noise, target := in.Batch["noise"], in.Batch["target"]
		guidance := BroadcastToDims(Scalar(g, noise.DType(), w), noise.Shape().Dimensions[0])
		x0, _ := distill.StudentSampleGraph(mcfg, model.Weights(model.CastWeights(mcfg, in.Trainable)), noise,
			in.Batch["text"], in.Batch["mask"], guidance, in.Rng, schedule)
		mse := ReduceAllMean(Square(Sub(x0, target)))
		return train.StepOutputs{Loss: mse, Metrics: map[string]*Node{"mse": mse}}
	}
	stepper := train.NewStepper(backend, "regress", loss, opt, cfg.Train.GradClip)
	params := train.Group(student)
	state := opt.InitState(params)
	sched := train.CosineWithWarmup(*lr, 20, int64(*steps))
	rng := rand.New(rand.NewPCG(uint64(*seed), 11))
	holdout := min(256, *n/8) // the last pairs check the fit on prompts the student is not trained on
	trainN := *n - holdout
	shape := sc.LatentShape()
	batchOf := func(idx []int) map[string]*tensors.Tensor {
		var nz, tg []float32
		var pr []string
		for _, i := range idx {
			nz = append(nz, p.Noise[i*p.Size:(i+1)*p.Size]...)
			tg = append(tg, p.Target[i*p.Size:(i+1)*p.Size]...)
			pr = append(pr, p.Prompts[i])
		}
		text, mask := enc.EncodeText(pr)
		dims := []int{len(idx), shape[0], shape[1], shape[2]}
		return map[string]*tensors.Tensor{"noise": tensors.FromFlatDataAndDimensions(nz, dims...),
			"target": tensors.FromFlatDataAndDimensions(tg, dims...), "text": text, "mask": mask}
	}
	heldIdx := make([]int, 0, holdout)
	for i := trainN; i < *n; i++ {
		heldIdx = append(heldIdx, i)
	}
	heldMSE := func() (float64, error) {
		hb := batchOf(heldIdx)
		defer finalize(hb)
		lat, err := distill.SampleStudent(backend, mcfg, model.Params(params), hb["text"], hb["mask"], hb["noise"], sampling)
		if err != nil {
			return 0, err
		}
		defer lat.FinalizeAll()
		var sum float64
		for i, v := range tensors.MustCopyFlatData[float32](lat) {
			d := float64(v) - float64(p.Target[trainN*p.Size+i])
			sum += d * d
		}
		return sum / float64(holdout*p.Size), nil
	}
	t1 := time.Now()
	var avg float64
	for step := range *steps {
		idx := make([]int, *batch)
		for i := range idx {
			idx[i] = rng.IntN(trainN)
		}
		// The step takes over the weights' and the optimizer state's buffers (nothing else holds
		// them), so that memory stays flat over thousands of steps.
		b := batchOf(idx)
		r, err := stepper.StepDonating(train.Donation{Trainable: true, OptState: true}, params, nil, nil, state, b,
			train.StepRNG(*seed, int64(step), 0, 0), sched(int64(step)), int64(step))
		if err != nil {
			return err
		}
		finalize(b)
		params, state = r.Trainable, r.OptState
		avg += r.Loss
		if (step+1)%100 == 0 || step+1 == *steps {
			el := time.Since(t1)
			hm, err := heldMSE()
			if err != nil {
				return err
			}
			fmt.Printf("student: step %d/%d, train mse %.4f, held-out mse %.4f, %.2f steps/s, ETA %s\n", step+1, *steps, avg/100, hm,
				float64(step+1)/el.Seconds(), (time.Duration(float64(el) / float64(step+1) * float64(*steps-step-1))).Round(time.Second))
			avg = 0
		}
	}
	dir := filepath.Join(*out, "student")
	maps.Copy(params, logvarHead)
	if err := checkpoints.ExportDiffusers(dir, mcfg, model.Params(params), checkpoints.ExportOptions{DType: "float32"}); err != nil {
		return err
	}
	fmt.Printf("exported %s\n", dir)
	return nil
}
