package train

import (
	"fmt"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
)

// Data parallelism over the devices of one machine (train.devices), with GoMLX's distributed
// API as Trainer.DistributedTrainStep uses it: every step graph is compiled once for a mesh of
// N devices with AutoSharding; the batch inputs are sharded along their first axis over the
// mesh axis "data" (device d gets rows [d·B/N, (d+1)·B/N) of the global batch the reader
// yields), everything else (weights, optimizer states, buffers, the RNG state, lr, step) is
// replicated, and every output is replicated. XLA's partitioner (Shardy) inserts the gradient
// all-reduce: the program is the global-batch program, so the loss, the clipping norm and the
// update are those of the global batch. The run keeps one copy of every tensor on the host
// side, device 0's (checkpoints, the EMA, validation and exports read it); the other devices'
// copies are kept here between steps, so a replicated tensor is uploaded once, not every step.
//
// With one device the same code path runs without AutoSharding (the Go backend has one device
// and no partitioner): the step is then exactly the single-device step.
//
// Random draws: the step's RNG state is replicated and the draws have the global batch's shape;
// how XLA partitions RngBitGenerator over the batch axis (the same bits as one device, or per
// shard) is not verified on a multi-device machine (see docs/multinode.md).

// MeshAxis is the name of the data-parallel mesh axis.
const MeshAxis = "data"

// DataParallel places the steps of a run on the first N devices of a backend.
type DataParallel struct {
	n         int
	mesh      *distributed.DeviceMesh
	batchSpec *distributed.ShardingSpec
	replSpec  *distributed.ShardingSpec

	mu       sync.Mutex
	replicas map[*tensors.Tensor][]*tensors.Tensor // device-0 tensor → its copy on every device
}

// NewDataParallel uses devices devices of backend; 0 means all of them (train.devices).
func NewDataParallel(backend compute.Backend, devices int) (*DataParallel, error) {
	have := backend.NumDevices()
	switch {
	case devices < 0:
		return nil, fmt.Errorf("train.devices: must be >= 0 (0: every device), got %d", devices)
	case devices == 0:
		devices = have
	case devices > have:
		return nil, fmt.Errorf("train.devices: %d devices asked for, the %s backend has %d", devices, backend.Name(), have)
	}
	return newDataParallel(devices)
}

// newDataParallel is the placement over n devices (checked against a backend by the caller).
func newDataParallel(n int) (*DataParallel, error) {
	p := &DataParallel{n: n, replicas: map[*tensors.Tensor][]*tensors.Tensor{}}
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{MeshAxis})
	if err != nil {
		return nil, fmt.Errorf("train.devices: %w", err)
	}
	p.mesh = mesh
	if p.batchSpec, err = distributed.NewShardingSpec(mesh, distributed.AxisSpec{MeshAxis}); err != nil {
		return nil, err
	}
	p.replSpec = distributed.NewReplicatedShardingSpec(mesh)
	return p, nil
}

// Devices is the number of devices the steps run on.
func (p *DataParallel) Devices() int { return p.n }

// configure sets up a step's executor: AutoSharding over the mesh with the batch inputs
// sharded and everything else replicated, when there is more than one device.
func (p *DataParallel) configure(exec *graph.Exec, layout stepLayout) *graph.Exec {
	if p.n == 1 {
		return exec
	}
	specs := make([]*distributed.ShardingSpec, 0, layout.numInputs())
	for range len(layout.trainable) + len(layout.frozen) + len(layout.buffers) + len(layout.state) {
		specs = append(specs, p.replSpec)
	}
	for range layout.batch {
		specs = append(specs, p.batchSpec)
	}
	specs = append(specs, p.replSpec, p.replSpec, p.replSpec) // rng, lr, step
	return exec.AutoSharding(p.mesh).WithInputShardingSpecs(specs...).WithOutputShardingSpecs(p.replSpec)
}

// distribute turns one step's arguments (in layout order) into the executor's arguments: with
// one device they are returned as they are; with N, device-major (all of device 0's inputs,
// then device 1's, …), the batch split along its first axis and every other input replicated
// (copies made by earlier steps reused).
func (p *DataParallel) distribute(layout stepLayout, args []any) ([]any, error) {
	if p.n == 1 {
		return args, nil
	}
	batchFrom := len(layout.trainable) + len(layout.frozen) + len(layout.buffers) + len(layout.state)
	batchTo := batchFrom + len(layout.batch)
	perDevice := make([][]*tensors.Tensor, len(args))
	for i, a := range args {
		t := a.(*tensors.Tensor)
		var err error
		if i >= batchFrom && i < batchTo {
			perDevice[i], err = p.shardBatch(layout.batch[i-batchFrom], t)
		} else {
			perDevice[i], err = p.replicate(t)
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]any, 0, p.n*len(args))
	for d := range p.n {
		for i := range args {
			out = append(out, perDevice[i][d])
		}
	}
	return out, nil
}

// shardBatch splits a batch tensor along its first axis into one shard per device.
func (p *DataParallel) shardBatch(name string, t *tensors.Tensor) ([]*tensors.Tensor, error) {
	if t.Rank() == 0 || t.Shape().Dimensions[0]%p.n != 0 {
		return nil, fmt.Errorf("batch %q of shape %s cannot be split over %d devices: train.batch_size must be a multiple of train.devices",
			name, t.Shape(), p.n)
	}
	dt, err := dtensor.ShardTensor(p.batchSpec, t)
	if err != nil {
		return nil, fmt.Errorf("sharding batch %q: %w", name, err)
	}
	return dt.Shards(), nil
}

// replicate returns t's copy on every device: the copies kept from the step that produced t,
// or new ones (kept for the next steps: frozen networks are uploaded once).
func (p *DataParallel) replicate(t *tensors.Tensor) ([]*tensors.Tensor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.replicas[t]; ok {
		return r, nil
	}
	dt, err := dtensor.ShardTensor(p.replSpec, t)
	if err != nil {
		return nil, err
	}
	r := dt.Shards()
	r[0] = t
	p.replicas[t] = r
	return r, nil
}

// collect keeps device 0's outputs as the step's results and remembers the copies on the other
// devices of the outputs the run keeps (weights, optimizer state, buffers); the copies of the
// inputs those outputs replace are forgotten. inputs are the step's host-side arguments in
// layout order (before distribution and donation).
func (p *DataParallel) collect(layout stepLayout, inputs []*tensors.Tensor, outs []*tensors.Tensor) []*tensors.Tensor {
	if p.n == 1 {
		return outs
	}
	numOut := len(outs) / p.n
	p.mu.Lock()
	defer p.mu.Unlock()
	nt, nf, nb, ns := len(layout.trainable), len(layout.frozen), len(layout.buffers), len(layout.state)
	for i, t := range inputs[:nt+nf+nb+ns] {
		if i < nt || i >= nt+nf { // trainable, buffers, state: replaced by the outputs
			delete(p.replicas, t)
		}
	}
	for o := range nt + ns + nb { // the outputs' order: trainable, state, buffers, then scalars
		r := make([]*tensors.Tensor, p.n)
		for d := range p.n {
			r[d] = outs[d*numOut+o]
		}
		p.replicas[r[0]] = r
	}
	return outs[:numOut]
}

// numInputs is the number of graph inputs of a step with this layout.
func (l stepLayout) numInputs() int {
	return len(l.trainable) + len(l.frozen) + len(l.buffers) + len(l.state) + len(l.batch) + 3
}
