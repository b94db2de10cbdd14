package gmx

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// Recover converts a panic into an error stored in *err, prefixed with what. Use it with defer at every
// API boundary that calls into GoMLX.
func Recover(err *error, what string) {
	r := recover()
	if r == nil {
		return
	}
	if e, ok := r.(error); ok {
		*err = fmt.Errorf("%s: %w", what, e)
	} else {
		*err = fmt.Errorf("%s: %v", what, r)
	}
	if os.Getenv("SPRINT_DEBUG") == "1" {
		fmt.Fprintf(os.Stderr, "%s\n", debug.Stack())
	}
}

// Params is an ordered set of named float32 tensors.
type Params struct {
	names   []string
	tensors []*tensors.Tensor
	index   map[string]int
}

// NewParams returns an empty set.
func NewParams() *Params { return &Params{index: map[string]int{}} }

// Add copies data into a new tensor of the given dimensions under name.
func (p *Params) Add(name string, data []float32, dims ...int) error {
	if _, dup := p.index[name]; dup {
		return fmt.Errorf("parameter %q added twice", name)
	}
	size := 1
	for _, d := range dims {
		size *= d
	}
	if size != len(data) {
		return fmt.Errorf("parameter %q: %d values for dimensions %v (%d)", name, len(data), dims, size)
	}
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	if err := tensors.MutableFlatData(t, func(flat []float32) { copy(flat, data) }); err != nil {
		return fmt.Errorf("parameter %q: %w", name, err)
	}
	p.index[name] = len(p.names)
	p.names = append(p.names, name)
	p.tensors = append(p.tensors, t)
	return nil
}

// Len is the number of parameters.
func (p *Params) Len() int { return len(p.names) }

// Names lists the parameter names in insertion order.
func (p *Params) Names() []string { return append([]string(nil), p.names...) }

// Shape returns the dimensions of a parameter, or nil when it is absent.
func (p *Params) Shape(name string) []int {
	i, ok := p.index[name]
	if !ok {
		return nil
	}
	return p.tensors[i].Shape().Dimensions
}

// Finalize frees the tensors.
func (p *Params) Finalize() {
	for _, t := range p.tensors {
		_ = t.FinalizeAll()
	}
	p.tensors = nil
}

// BuildFn builds the graph: inputs are the data inputs, param returns the node of a named parameter
// (and panics, inside graph building, when the name is unknown).
type BuildFn func(inputs []*graph.Node, param func(name string) *graph.Node) []*graph.Node

// Program is a compiled-on-demand graph over nIn data inputs followed by every parameter.
type Program struct {
	exec   *graph.Exec
	params *Params
	nIn    int
}

// NewProgram prepares a program. Compilation happens at the first Run for each input shape.
func NewProgram(backend compute.Backend, name string, params *Params, nIn int, build BuildFn) (prog *Program, err error) {
	defer Recover(&err, "building "+name)
	fn := func(g *graph.Graph, all []*graph.Node) []*graph.Node {
		if len(all) != nIn+params.Len() {
			panic(fmt.Errorf("%s: got %d inputs, want %d", name, len(all), nIn+params.Len()))
		}
		lookup := func(pname string) *graph.Node {
			i, ok := params.index[pname]
			if !ok {
				panic(fmt.Errorf("%s: unknown parameter %q", name, pname))
			}
			return all[nIn+i]
		}
		return build(all[:nIn], lookup)
	}
	exec, err := graph.NewExec(backend, fn)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", name, err)
	}
	exec.WithName(name)
	return &Program{exec: exec, params: params, nIn: nIn}, nil
}

// Run executes the program on the data inputs.
func (p *Program) Run(inputs ...*tensors.Tensor) (outs []*tensors.Tensor, err error) {
	defer Recover(&err, "running "+p.exec.Name())
	if len(inputs) != p.nIn {
		return nil, fmt.Errorf("running %s: got %d inputs, want %d", p.exec.Name(), len(inputs), p.nIn)
	}
	args := make([]any, 0, p.nIn+p.params.Len())
	for _, t := range inputs {
		args = append(args, t)
	}
	for _, t := range p.params.tensors {
		args = append(args, t)
	}
	outs, err = p.exec.Call(args...)
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", p.exec.Name(), err)
	}
	return outs, nil
}

// Finalize releases the compiled graphs (not the parameters).
func (p *Program) Finalize() { p.exec.Finalize() }

// Float32s copies a tensor's values and frees it.
func Float32s(t *tensors.Tensor) ([]float32, error) {
	defer func() { _ = t.FinalizeAll() }()
	if t.DType() != dtypes.Float32 {
		return nil, fmt.Errorf("output has dtype %s, want float32", t.DType())
	}
	return tensors.CopyFlatData[float32](t)
}

// Tensor builds a float32 or int32 tensor from data and dimensions.
func Tensor[T float32 | int32](data []T, dims ...int) (*tensors.Tensor, error) {
	size := 1
	for _, d := range dims {
		size *= d
	}
	if size != len(data) {
		return nil, fmt.Errorf("%d values for dimensions %v", len(data), dims)
	}
	t := tensors.FromShape(shapes.Make(dtypes.FromGenericsType[T](), dims...))
	if err := tensors.MutableFlatData(t, func(flat []T) { copy(flat, data) }); err != nil {
		return nil, err
	}
	return t, nil
}

// ImageBatch stacks RGB images of size width x height into a (B, H, W, 3) float32 tensor; what
// names the network in errors.
func ImageBatch(what string, imgs []*imaging.Float, width, height int) (*tensors.Tensor, error) {
	data := make([]float32, 0, len(imgs)*width*height*3)
	for i, im := range imgs {
		if im.Width != width || im.Height != height || im.Channels != 3 {
			return nil, fmt.Errorf("%s: image %d is %dx%dx%d, want %dx%dx3", what, i, im.Width, im.Height, im.Channels, width, height)
		}
		data = append(data, im.Pix...)
	}
	return Tensor(data, len(imgs), height, width, 3)
}
