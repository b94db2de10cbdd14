package train

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// ErrDonatedStateLost marks a step that failed after its weights or optimizer state were
// donated to it: those tensors are gone and no checkpoint can be written from them.
var ErrDonatedStateLost = errors.New("the weights and optimizer state donated to the failed step are lost")

// Donation says which inputs of a step give their device buffers to it (Stepper.StepDonating).
// The frozen groups, the buffers and the batch are never donated: other phases, the EMA and
// checkpoints read them after the step.
type Donation struct {
	// Trainable donates the trainable group's tensors.
	Trainable bool
	// OptState donates the optimizer state's tensors.
	OptState bool
}

// donate compiles the step for the shapes of args (a no-op when it is cached), then replaces
// the donated tensors of args by their donated buffers. args is laid out as Step builds it,
// once per device (device-major): trainable, frozen, buffers, optimizer state, batch, then rng,
// lr and step.
func (s *Stepper) donate(se *stepExec, layout stepLayout, d Donation, args []any) error {
	argShapes := make([]shapes.Shape, len(args))
	for i, a := range args {
		argShapes[i] = a.(*tensors.Tensor).Shape()
	}
	if _, err := se.exec.Compile(argShapes...); err != nil {
		return fmt.Errorf("stepper %s: compiling the step: %w", s.name, err)
	}
	numIn := layout.numInputs()
	give := func(device, from, n int) error {
		for i := device*numIn + from; i < device*numIn+from+n; i++ {
			t := args[i].(*tensors.Tensor)
			// Move a host tensor (freshly initialised or loaded from a checkpoint) to the device
			// first, freeing its host storage: DonateTensorBuffer would copy it to a device buffer
			// and leave the host copy alive, so the first step after a start or a resume would
			// hold the weights and optimizer state twice.
			if err := t.ToDevice(s.backend, compute.DeviceNum(device)); err != nil {
				return fmt.Errorf("stepper %s: moving input %d to the device: %w", s.name, i, err)
			}
			buf, err := graph.DonateTensorBuffer(t, s.backend, compute.DeviceNum(device))
			if err != nil {
				return fmt.Errorf("stepper %s: donating input %d: %w", s.name, i, err)
			}
			args[i] = buf
		}
		return nil
	}
	for device := range len(args) / numIn {
		if d.Trainable {
			if err := give(device, 0, len(layout.trainable)); err != nil {
				return err
			}
		}
		if d.OptState {
			if err := give(device, len(layout.trainable)+len(layout.frozen)+len(layout.buffers), len(layout.state)); err != nil {
				return err
			}
		}
	}
	return nil
}
