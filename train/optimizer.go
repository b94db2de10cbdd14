package train

import (
	"encoding/json"
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Optimizer is a pure graph function from (params, grads, state) to (params, state).
//
// The state is an explicit Group created by InitState and carried by the caller (the Stepper
// feeds it in and takes the new one out), so that checkpoints hold it like any other group.
// State names are "<slot>/<param name>" plus optimizer-wide entries such as "count".
type Optimizer interface {
	// Name identifies the optimizer in logs and checkpoints ("adamw", "came").
	Name() string
	// InitState returns the zero state for params.
	InitState(params Group) Group
	// Update builds the update of one step. lr is a float32 scalar, step the int64 global
	// step (available to schedules inside the optimizer; AdamW and CAME use their own
	// "count", which skipped steps do not advance). It panics, as graph-building functions
	// do, on inconsistent inputs; the Stepper turns that into an error. Parameters must be
	// updated independently of one another (the Stepper calls Update once per parameter, with
	// the whole state; entries shared by all parameters, such as "count", must come out the
	// same in every call).
	Update(g *graph.Graph, params, grads, state map[string]*graph.Node, lr, step *graph.Node) (newParams, newState map[string]*graph.Node)
}

// NewOptimizer builds the optimizer described by cfg (the lr is not part of it: it is given
// at every step, after auto_lr scaling and the schedule).
func NewOptimizer(cfg OptimizerConfig) (Optimizer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch cfg.Type {
	case "adamw":
		return &AdamW{Beta1: cfg.Betas[0], Beta2: cfg.Betas[1], Eps: cfg.Eps[0], WeightDecay: cfg.WeightDecay}, nil
	case "came":
		return &CAME{Beta1: cfg.Betas[0], Beta2: cfg.Betas[1], Beta3: cfg.Betas[2],
			Eps1: cfg.Eps[0], Eps2: cfg.Eps[1], ClipThreshold: cfg.ClipThreshold, WeightDecay: cfg.WeightDecay}, nil
	}
	return nil, fmt.Errorf("train.optimizer.type: unknown optimizer %q", cfg.Type)
}

// countName is the state entry counting the updates an optimizer has applied.
const countName = "count"

// computeDType is the dtype optimizer arithmetic and state use for a parameter of dtype dt:
// half-precision parameters are updated in float32.
func computeDType(dt dtypes.DType) dtypes.DType {
	switch dt {
	case dtypes.Float16, dtypes.BFloat16:
		return dtypes.Float32
	}
	return dt
}

// zeros returns a zero host tensor of the given shape.
func zeros(dt dtypes.DType, dims ...int) *tensors.Tensor {
	return tensors.FromShape(shapes.Make(dt, dims...))
}

// initCount returns the zero update counter.
func initCount() *tensors.Tensor { return tensors.FromScalar(int64(0)) }

// nextCount returns the update counter incremented by one.
func nextCount(state map[string]*graph.Node) *graph.Node {
	return graph.AddScalar(mustState(state, countName), 1)
}

// paramStep is one parameter's part of an optimizer update: the parameter, its gradient and
// the learning rate in dt, the dtype the update computes in (computeDType of the parameter's),
// and the update count (int64, already advanced).
type paramStep struct {
	name        string
	dims        []int
	dt          dtypes.DType
	w, grad, lr *graph.Node
	count       *graph.Node
}

// updateEach is the frame of an Update: it advances the update count and, for every parameter,
// has step return the parameter's new value (converted back to its dtype here) and write the
// state entries of that parameter into newState.
func updateEach(params, grads, state map[string]*graph.Node, lr *graph.Node, step func(p paramStep, newState map[string]*graph.Node) *graph.Node) (newParams, newState map[string]*graph.Node) {
	newParams = make(map[string]*graph.Node, len(params))
	newState = make(map[string]*graph.Node, len(state))
	count := nextCount(state)
	newState[countName] = count
	for name, p := range params {
		dt := computeDType(p.DType())
		w := step(paramStep{
			name: name, dims: p.Shape().Dimensions, dt: dt,
			w: graph.ConvertDType(p, dt), grad: graph.ConvertDType(grads[name], dt),
			lr: graph.ConvertDType(lr, dt), count: count,
		}, newState)
		newParams[name] = graph.ConvertDType(w, p.DType())
	}
	return newParams, newState
}

// mustState returns state[name] or panics naming the missing entry.
func mustState(state map[string]*graph.Node, name string) *graph.Node {
	n, ok := state[name]
	if !ok {
		exceptions.Panicf("optimizer state has no entry %q (was it created by the same optimizer's InitState?)", name)
	}
	return n
}

// optimizerState is one phase's entry in the optimizers section of a checkpoint: which
// optimizer ran and the group holding its state (the moments themselves are tensors).
type optimizerState struct {
	Optimizer  string `json:"optimizer"`
	StateGroup string `json:"state_group"`
}

// saveOptimizers returns the optimizers section ("optimizers"), by phase name.
func saveOptimizers(phases []Phase) (json.RawMessage, error) {
	m := make(map[string]optimizerState, len(phases))
	for _, p := range phases {
		m[p.Name] = optimizerState{Optimizer: p.Stepper.Optimizer().Name(), StateGroup: p.OptState}
	}
	return json.Marshal(m)
}

// restoreOptimizers checks that every phase resumes the optimizer state its own optimizer wrote.
func restoreOptimizers(phases []Phase, raw json.RawMessage) error {
	var m map[string]optimizerState
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for _, p := range phases {
		saved, ok := m[p.Name]
		if !ok {
			return fmt.Errorf("phase %q has no saved optimizer state", p.Name)
		}
		if name := p.Stepper.Optimizer().Name(); saved.Optimizer != name {
			return fmt.Errorf("phase %q: the checkpoint's optimizer state is %s's, but this run uses %s", p.Name, saved.Optimizer, name)
		}
	}
	return nil
}
