package train

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
)

// EMA keeps an exponential moving average of a group's weights:
//
//	ema ← decay·ema + (1 − decay)·w
//
// computed in one compiled graph over the whole group (in float32 for half-precision weights).
// The reference does not use an EMA (notes §6); it is optional here.
type EMA struct {
	backend compute.Backend
	decay   float64

	mu    sync.Mutex
	exec  *graph.Exec
	names []string
}

// NewEMA returns an EMA with the given decay, in (0, 1).
func NewEMA(backend compute.Backend, decay float64) (*EMA, error) {
	if decay <= 0 || decay >= 1 {
		return nil, fmt.Errorf("ema: decay must be in (0, 1), got %g", decay)
	}
	return &EMA{backend: backend, decay: decay}, nil
}

// Init returns a copy of params to start the average from.
func (e *EMA) Init(params Group) (Group, error) {
	out := make(Group, len(params))
	for n, t := range params {
		c, err := t.Clone()
		if err != nil {
			return nil, fmt.Errorf("ema: copying %q: %w", n, err)
		}
		out[n] = c
	}
	return out, nil
}

// Update returns the average moved one step towards params. Both groups must have the same names.
func (e *EMA) Update(avg, params Group) (Group, error) {
	names := params.Names()
	if len(names) != len(avg) {
		return nil, fmt.Errorf("ema: average has %d tensors, weights %d", len(avg), len(names))
	}
	args := make([]any, 0, 2*len(names))
	for _, n := range names {
		if avg[n] == nil {
			return nil, fmt.Errorf("ema: average has no tensor %q", n)
		}
		args = append(args, avg[n])
	}
	for _, n := range names {
		args = append(args, params[n])
	}
	exec, err := e.execFor(names)
	if err != nil {
		return nil, err
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("ema: %w", err)
	}
	out := make(Group, len(names))
	for i, n := range names {
		out[n] = outs[i]
	}
	return out, nil
}

func (e *EMA) execFor(names []string) (*graph.Exec, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exec != nil && slices.Equal(e.names, names) {
		return e.exec, nil
	}
	decay := e.decay
	n := len(names)
	exec, err := graph.NewExec(e.backend, func(g *graph.Graph, inputs []*graph.Node) []*graph.Node {
		outs := make([]*graph.Node, n)
		for i := range n {
			avg, w := inputs[i], inputs[n+i]
			dt := computeDType(avg.DType())
			a := graph.ConvertDType(avg, dt)
			x := graph.ConvertDType(w, dt)
			outs[i] = graph.ConvertDType(graph.Add(graph.MulScalar(a, decay), graph.MulScalar(x, 1-decay)), avg.DType())
		}
		return outs
	})
	if err != nil {
		return nil, fmt.Errorf("ema: creating its executor: %w", err)
	}
	e.exec, e.names = exec.WithName("EMA"), names
	return e.exec, nil
}
