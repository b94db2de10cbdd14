package distill

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/testbackend"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// testBackend is the shared test backend (internal/testbackend).
func testBackend() compute.Backend { return testbackend.Must() }

// stepRun is the host side of one loss-function call.
type stepRun struct {
	trainable, frozen, buffers, batch map[string]*tensors.Tensor
	seed, step                        int64
}

// stepResult is what evalLoss returns.
type stepResult struct {
	loss    float64
	grads   map[string]*tensors.Tensor // w.r.t. trainable and frozen (frozen keyed "<group>/<name>")
	metrics map[string]float64
	buffers map[string]*tensors.Tensor
}

// evalLoss builds fn's graph like train.Stepper does and returns the loss, the gradients of the
// loss with respect to every trainable and frozen input (to check which get any), the metrics
// and the returned buffers.
func evalLoss(t testing.TB, fn train.LossFn, r stepRun) stepResult {
	t.Helper()
	names := func(m map[string]*tensors.Tensor) []string { return slices.Sorted(maps.Keys(m)) }
	tn, fn2, bn, xn := names(r.trainable), names(r.frozen), names(r.buffers), names(r.batch)
	var metricNames, bufNames []string
	exec, err := NewExec(testBackend(), func(in []*Node) []*Node {
		pos := 0
		take := func(ns []string) map[string]*Node {
			m := map[string]*Node{}
			for _, n := range ns {
				m[n] = in[pos]
				pos++
			}
			return m
		}
		si := train.StepInputs{Trainable: take(tn), Frozen: take(fn2), Buffers: take(bn), Batch: take(xn)}
		si.Rng, si.Step = in[pos], in[pos+1]
		out := fn(si.Rng.Graph(), si)
		wrt := make([]*Node, 0, len(tn)+len(fn2))
		for _, n := range tn {
			wrt = append(wrt, si.Trainable[n])
		}
		for _, n := range fn2 {
			wrt = append(wrt, si.Frozen[n])
		}
		outs := []*Node{out.Loss}
		outs = append(outs, Gradient(out.Loss, wrt...)...)
		metricNames = slices.Sorted(maps.Keys(out.Metrics))
		for _, n := range metricNames {
			outs = append(outs, ConvertDType(out.Metrics[n], dtypes.Float64))
		}
		bufNames = slices.Sorted(maps.Keys(out.Buffers))
		for _, n := range bufNames {
			outs = append(outs, out.Buffers[n])
		}
		return outs
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	var args []any
	for _, p := range []struct {
		ns []string
		m  map[string]*tensors.Tensor
	}{{tn, r.trainable}, {fn2, r.frozen}, {bn, r.buffers}, {xn, r.batch}} {
		for _, n := range p.ns {
			args = append(args, p.m[n])
		}
	}
	rng, err := RNGStateFromSeed(r.seed)
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, rng, tensors.FromScalar(r.step))
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := stepResult{loss: flat(outs[0])[0], grads: map[string]*tensors.Tensor{}, metrics: map[string]float64{}, buffers: map[string]*tensors.Tensor{}}
	i := 1
	for _, n := range tn {
		res.grads[n] = outs[i]
		i++
	}
	for _, n := range fn2 {
		res.grads[n] = outs[i]
		i++
	}
	for _, n := range metricNames {
		res.metrics[n] = flat(outs[i])[0]
		i++
	}
	for _, n := range bufNames {
		res.buffers[n] = outs[i]
		i++
	}
	return res
}

// prefixed returns m's tensors keyed "<group>/<name>".
func prefixed(group string, m map[string]*tensors.Tensor) map[string]*tensors.Tensor {
	out := map[string]*tensors.Tensor{}
	for k, v := range m {
		out[group+train.GroupSeparator+k] = v
	}
	return out
}

// union merges maps.
func union(ms ...map[string]*tensors.Tensor) map[string]*tensors.Tensor {
	out := map[string]*tensors.Tensor{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// randTensor is a tensor of N(0, std²) values.
func randTensor(rng *rand.Rand, dtype dtypes.DType, std float64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * std
	}
	return tensorOf(v, dtype, dims...)
}

// newTiny returns the tiny preset in the given dtype, its teacher, a student made from it
// (with the guidance embedder's last layer and logvar perturbed so every part is live) and a
// batch of b samples with a null caption.
type tinySetup struct {
	mcfg             model.Config
	teacher, student model.Params
	batch            map[string]*tensors.Tensor
}

func newTiny(t testing.TB, dtype string, b int, seed uint64) tinySetup {
	t.Helper()
	mcfg, err := model.PresetConfig(model.PresetTiny)
	if err != nil {
		t.Fatal(err)
	}
	mcfg.DType = dtype
	return newTinyFrom(t, mcfg, b, seed)
}

// newTinyFrom is newTiny for any (resolved) model config.
func newTinyFrom(t testing.TB, mcfg model.Config, b int, seed uint64) tinySetup {
	t.Helper()
	dt, err := mcfg.ComputeDType()
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := model.InitParams(mcfg, model.Teacher, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	// The zero-initialised output layers would make the velocity trivially linear; give every
	// tensor some weight so that the network is a generic nonlinear function.
	for _, name := range model.SortedNames(teacher) {
		if tt := teacher[name]; isZero(tt) {
			teacher[name] = randTensor(rng, dt, 0.05, tt.Shape().Dimensions...)
		}
	}
	student, err := model.StudentFromTeacher(mcfg, teacher, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range model.SortedNames(student) {
		if tt := student[name]; isZero(tt) {
			student[name] = randTensor(rng, dt, 0.05, tt.Shape().Dimensions...)
		}
	}
	c, l, dc, s := mcfg.InChannels, mcfg.CaptionLen, mcfg.CaptionDim, mcfg.LatentSize
	mask := make([]float64, b*l)
	for i := range b {
		for j := range l {
			if j < l-i%3 {
				mask[i*l+j] = 1
			}
		}
	}
	return tinySetup{
		mcfg: mcfg, teacher: teacher, student: student,
		batch: map[string]*tensors.Tensor{
			BatchLatent:   randTensor(rng, dt, 1, b, c, s, s),
			BatchText:     randTensor(rng, dt, 1, b, l, dc),
			BatchMask:     tensorOf(mask, dt, b, l),
			NullEmbedding: randTensor(rng, dt, 0.5, 1, l, dc),
		},
	}
}

func isZero(t *tensors.Tensor) bool {
	for _, v := range flat(t) {
		if v != 0 {
			return false
		}
	}
	return true
}

func maxAbs(t *tensors.Tensor) float64 {
	var m float64
	for _, v := range flat(t) {
		if v < 0 {
			v = -v
		}
		m = max(m, v)
	}
	return m
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 17)) }

func sortedKeys(m map[string]*tensors.Tensor) []string { return slices.Sorted(maps.Keys(m)) }

// headsAndGenerator returns the heads (seed 3), their buffers and the generator loss for cfg
// and the model config mcfg, failing t when one cannot be made.
func headsAndGenerator(t testing.TB, cfg Config, mcfg model.Config) (heads, buffers model.Params, gLoss train.LossFn) {
	t.Helper()
	heads, buffers, err := InitHeads(cfg, mcfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	gLoss, err = GeneratorLoss(cfg, mcfg, PhaseRatio{})
	if err != nil {
		t.Fatal(err)
	}
	return heads, buffers, gLoss
}
