package train

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// StepInputs are the graph inputs a LossFn sees, all keyed by name.
type StepInputs struct {
	// Trainable are the weights differentiated and updated by this phase.
	Trainable map[string]*graph.Node
	// Frozen are read-only tensors of the other groups, keyed "<group>/<name>" (see Sub).
	Frozen map[string]*graph.Node
	// Buffers are non-trainable state the loss may update (StepOutputs.Buffers).
	Buffers map[string]*graph.Node
	// Batch is the data batch.
	Batch map[string]*graph.Node
	// Rng is this step's RNG state (graph.RNGStateShape), derived on the host from
	// (seed, global step, phase, skipped) by StepRNG; thread it through graph.RandomNormal etc.
	Rng *graph.Node
	// Step is the global step (int64 scalar) before this step.
	Step *graph.Node
}

// StepOutputs is what a LossFn returns.
type StepOutputs struct {
	// Loss is the scalar differentiated with respect to StepInputs.Trainable.
	Loss *graph.Node
	// Metrics are extra scalars to log (converted to float32; non-scalars are averaged).
	Metrics map[string]*graph.Node
	// Buffers are new values for some of StepInputs.Buffers (e.g. spectral-norm vectors);
	// buffers not named keep their value. May be nil.
	Buffers map[string]*graph.Node
}

// LossFn builds the loss of one phase as a pure function of its inputs.
type LossFn func(g *graph.Graph, in StepInputs) StepOutputs

// StepResult is the outcome of one Stepper.Step.
type StepResult struct {
	// Trainable, OptState and Buffers are the new values (the old ones if the step was skipped).
	Trainable, OptState, Buffers Group
	// Loss and GradNorm (before clipping) of this step.
	Loss, GradNorm float64
	// Skipped is true when the loss or the gradient norm was not finite: nothing was updated.
	Skipped bool
	// Metrics are the LossFn's metrics.
	Metrics map[string]float64
}

// Stepper runs one training step of one phase as a single compiled graph: the loss, its
// gradients with respect to the trainable group only, global-norm clipping, a NaN/Inf guard
// (a non-finite loss or gradient norm leaves parameters, optimizer state and buffers
// unchanged and reports Skipped) and the optimizer update. Maps are fed to the graph in
// sorted-name order; a graph is compiled per set of names and per input shapes.
type Stepper struct {
	backend  compute.Backend
	name     string
	loss     LossFn
	opt      Optimizer
	clipNorm float64
	dp       *DataParallel // nil: one device, no mesh

	mu    sync.Mutex
	execs map[string]*stepExec
}

// NewStepper returns a Stepper for one phase. clipNorm <= 0 disables clipping (the norm is
// still computed, reported and guarded).
func NewStepper(backend compute.Backend, name string, loss LossFn, opt Optimizer, clipNorm float64) *Stepper {
	return &Stepper{backend: backend, name: name, loss: loss, opt: opt, clipNorm: clipNorm, execs: map[string]*stepExec{}}
}

// WithDataParallel runs the Stepper's steps data-parallel on p's devices (see DataParallel);
// steppers of one run share one p. Call it before the first step. It returns s.
func (s *Stepper) WithDataParallel(p *DataParallel) *Stepper {
	s.dp = p
	return s
}

// Name returns the Stepper's name.
func (s *Stepper) Name() string { return s.name }

// Optimizer returns the Stepper's optimizer (to create its state with InitState).
func (s *Stepper) Optimizer() Optimizer { return s.opt }

// stepLayout is the sorted names of every input map: it fixes the graph's parameter order.
type stepLayout struct {
	trainable, frozen, buffers, state, batch []string
}

func (l stepLayout) key() string {
	var b strings.Builder
	for _, part := range [][]string{l.trainable, l.frozen, l.buffers, l.state, l.batch} {
		b.WriteString(strings.Join(part, "\x00"))
		b.WriteString("\x01")
	}
	return b.String()
}

// stepExec is the compiled step for one layout.
type stepExec struct {
	layout stepLayout
	exec   *graph.Exec

	mu      sync.Mutex
	metrics []string // metric names, recorded when the graph is built
}

// Step runs one step. rng is the step's RNG state (StepRNG), lr the learning rate of this
// step and step the global step before it. Every input stays valid (see StepDonating).
func (s *Stepper) Step(trainable, frozen, buffers, optState Group, batch map[string]*tensors.Tensor, rng *tensors.Tensor, lr float64, step int64) (StepResult, error) {
	return s.StepDonating(Donation{}, trainable, frozen, buffers, optState, batch, rng, lr, step)
}

// StepDonating is Step with the trainable weights and the optimizer state donated to the step as
// d says (graph.DonateTensorBuffer): the backend may reuse their buffers for the new values, so
// a step keeps one copy of them instead of two. The donated tensors are invalid afterwards,
// whatever the outcome: the caller must hold no other reference to them and must take the
// returned ones (a skipped step returns the old values as new tensors). The graph is compiled
// before anything is donated, so a build error leaves the inputs intact.
func (s *Stepper) StepDonating(d Donation, trainable, frozen, buffers, optState Group, batch map[string]*tensors.Tensor, rng *tensors.Tensor, lr float64, step int64) (StepResult, error) {
	if len(trainable) == 0 {
		return StepResult{}, fmt.Errorf("stepper %s: no trainable tensors", s.name)
	}
	if rng == nil {
		return StepResult{}, fmt.Errorf("stepper %s: nil RNG state", s.name)
	}
	layout := stepLayout{
		trainable: Group(trainable).Names(),
		frozen:    Group(frozen).Names(),
		buffers:   Group(buffers).Names(),
		state:     Group(optState).Names(),
		batch:     slices.Sorted(maps.Keys(batch)),
	}
	se, err := s.execFor(layout)
	if err != nil {
		return StepResult{}, err
	}
	args := make([]any, 0, len(layout.trainable)+len(layout.frozen)+len(layout.buffers)+len(layout.state)+len(layout.batch)+3)
	for _, part := range []struct {
		names []string
		m     map[string]*tensors.Tensor
	}{{layout.trainable, trainable}, {layout.frozen, frozen}, {layout.buffers, buffers}, {layout.state, optState}, {layout.batch, batch}} {
		for _, n := range part.names {
			if part.m[n] == nil {
				return StepResult{}, fmt.Errorf("stepper %s: tensor %q is nil", s.name, n)
			}
			args = append(args, part.m[n])
		}
	}
	args = append(args, rng, tensors.FromScalar(float32(lr)), tensors.FromScalar(step))
	hostArgs := make([]*tensors.Tensor, len(args))
	for i, a := range args {
		hostArgs[i] = a.(*tensors.Tensor)
	}
	if s.dp != nil {
		if args, err = s.dp.distribute(layout, args); err != nil {
			return StepResult{}, fmt.Errorf("stepper %s: %w", s.name, err)
		}
	}
	if d.Trainable || d.OptState {
		if err := s.donate(se, layout, d, args); err != nil {
			return StepResult{}, err
		}
	}
	outs, err := se.exec.Exec(args...)
	if err != nil {
		if d.Trainable || d.OptState {
			return StepResult{}, fmt.Errorf("stepper %s: step %d: %w: %w", s.name, step, ErrDonatedStateLost, err)
		}
		return StepResult{}, fmt.Errorf("stepper %s: step %d: %w", s.name, step, err)
	}
	if s.dp != nil {
		outs = s.dp.collect(layout, hostArgs, outs)
	}
	se.mu.Lock()
	metricNames := se.metrics
	se.mu.Unlock()
	want := len(layout.trainable) + len(layout.state) + len(layout.buffers) + 3 + len(metricNames)
	if len(outs) != want {
		return StepResult{}, fmt.Errorf("stepper %s: graph returned %d outputs, expected %d", s.name, len(outs), want)
	}
	res := StepResult{
		Trainable: make(Group, len(layout.trainable)),
		OptState:  make(Group, len(layout.state)),
		Buffers:   make(Group, len(layout.buffers)),
		Metrics:   make(map[string]float64, len(metricNames)),
	}
	i := 0
	for _, part := range []struct {
		names []string
		dst   Group
	}{{layout.trainable, res.Trainable}, {layout.state, res.OptState}, {layout.buffers, res.Buffers}} {
		for _, n := range part.names {
			part.dst[n] = outs[i]
			i++
		}
	}
	scalar := func(t *tensors.Tensor) (v float64, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("stepper %s: reading a scalar output: %v", s.name, r)
			}
		}()
		return float64(tensors.ToScalar[float32](t)), nil
	}
	var skipped float64
	for _, dst := range []*float64{&res.Loss, &res.GradNorm, &skipped} {
		if *dst, err = scalar(outs[i]); err != nil {
			return StepResult{}, err
		}
		i++
	}
	res.Skipped = skipped != 0
	for _, n := range metricNames {
		if res.Metrics[n], err = scalar(outs[i]); err != nil {
			return StepResult{}, err
		}
		i++
	}
	return res, nil
}

// execFor returns the compiled step for a layout, creating it on first use.
func (s *Stepper) execFor(layout stepLayout) (*stepExec, error) {
	key := layout.key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.execs[key]; ok {
		return se, nil
	}
	se := &stepExec{layout: layout}
	exec, err := graph.NewExec(s.backend, func(g *graph.Graph, inputs []*graph.Node) []*graph.Node {
		return s.build(g, se, inputs)
	})
	if err != nil {
		return nil, fmt.Errorf("stepper %s: creating its executor: %w", s.name, err)
	}
	se.exec = exec.WithName("Stepper:" + s.name)
	if s.dp != nil {
		se.exec = s.dp.configure(se.exec, layout)
	}
	s.execs[key] = se
	return se, nil
}

// build is the step graph: loss, gradients, clipping, guard, update.
func (s *Stepper) build(g *graph.Graph, se *stepExec, inputs []*graph.Node) []*graph.Node {
	l := se.layout
	pos := 0
	take := func(names []string) map[string]*graph.Node {
		m := make(map[string]*graph.Node, len(names))
		for _, n := range names {
			m[n] = inputs[pos]
			pos++
		}
		return m
	}
	in := StepInputs{Trainable: take(l.trainable), Frozen: take(l.frozen), Buffers: take(l.buffers)}
	state := take(l.state)
	in.Batch = take(l.batch)
	in.Rng, in.Step = inputs[pos], inputs[pos+2]
	lr := inputs[pos+1]

	out := s.loss(g, in)
	if out.Loss == nil {
		exceptions.Panicf("stepper %s: the loss function returned no loss", s.name)
	}
	if !out.Loss.Shape().IsScalar() || !out.Loss.DType().IsFloat() {
		exceptions.Panicf("stepper %s: the loss must be a float scalar, got %s", s.name, out.Loss.Shape())
	}
	params := make([]*graph.Node, len(l.trainable))
	for i, n := range l.trainable {
		params[i] = in.Trainable[n]
	}
	gradList := graph.Gradient(out.Loss, params...)
	grads := make(map[string]*graph.Node, len(params))
	for i, n := range l.trainable {
		grads[n] = gradList[i]
	}
	clipped, norm := ClipByGlobalNorm(grads, s.clipNorm)

	finite := graph.LogicalAnd(graph.IsFinite(norm), graph.IsFinite(out.Loss))
	guard := func(what, name string, updated, old *graph.Node) *graph.Node {
		if updated == nil {
			exceptions.Panicf("stepper %s: the update returned no %s %q", s.name, what, name)
		}
		if !updated.Shape().Equal(old.Shape()) {
			exceptions.Panicf("stepper %s: %s %q changed shape from %s to %s", s.name, what, name, old.Shape(), updated.Shape())
		}
		return graph.Where(finite, updated, old)
	}
	// The update is built one parameter at a time, each followed by its guard (the optimizers
	// update parameters independently): an executor that runs nodes in creation order (the Go
	// backend's low-memory setting, see internal/backendconfig) then frees a parameter's
	// gradient and its old value and state as soon as its update is done, instead of holding the
	// new and the old values of every parameter at once.
	newParams := make(map[string]*graph.Node, len(l.trainable))
	newState := make(map[string]*graph.Node, len(state))
	for _, n := range l.trainable {
		np, ns := s.opt.Update(g, map[string]*graph.Node{n: in.Trainable[n]}, map[string]*graph.Node{n: clipped[n]}, state, lr, in.Step)
		newParams[n] = guard("parameter", n, np[n], in.Trainable[n])
		for k, v := range ns {
			if _, done := newState[k]; !done { // the shared entries ("count") are the same in every call
				if _, ok := state[k]; !ok {
					exceptions.Panicf("stepper %s: optimizer %s returned state %q, which was not given", s.name, s.opt.Name(), k)
				}
				newState[k] = guard("optimizer state", k, v, state[k])
			}
		}
	}
	outputs := make([]*graph.Node, 0, len(l.trainable)+len(l.state)+len(l.buffers)+3+len(out.Metrics))
	for _, n := range l.trainable {
		outputs = append(outputs, newParams[n])
	}
	if len(newState) != len(state) {
		exceptions.Panicf("stepper %s: optimizer %s returned %d state tensors for %d given (was the state made by its InitState for this group?)",
			s.name, s.opt.Name(), len(newState), len(state))
	}
	for _, n := range l.state {
		outputs = append(outputs, newState[n])
	}
	for n := range out.Buffers {
		if _, ok := in.Buffers[n]; !ok {
			exceptions.Panicf("stepper %s: the loss function returned buffer %q, which is not an input buffer", s.name, n)
		}
	}
	for _, n := range l.buffers {
		if nb, ok := out.Buffers[n]; ok {
			outputs = append(outputs, guard("buffer", n, nb, in.Buffers[n]))
		} else {
			outputs = append(outputs, in.Buffers[n])
		}
	}
	f32 := func(x *graph.Node) *graph.Node {
		if !x.Shape().IsScalar() {
			x = graph.ReduceAllMean(x)
		}
		return graph.ConvertDType(x, dtypes.Float32)
	}
	outputs = append(outputs, f32(out.Loss), f32(norm), f32(graph.LogicalNot(finite)))
	metricNames := slices.Sorted(maps.Keys(out.Metrics))
	for _, n := range metricNames {
		outputs = append(outputs, f32(out.Metrics[n]))
	}
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.metrics != nil && !slices.Equal(se.metrics, metricNames) {
		exceptions.Panicf("stepper %s: the loss function returned metrics %v, earlier %v", s.name, metricNames, se.metrics)
	}
	se.metrics = metricNames
	return outputs
}
