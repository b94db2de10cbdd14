package train

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// TestStepDonatingMatchesStep: a step with the weights and the optimizer state donated returns
// bitwise the values of the same step without donation and leaves the frozen group and the
// batch intact (whether a donated tensor is still readable afterwards depends on the backend:
// the Go backend keeps a host copy it had; the caller must not use it either way); a skipped
// donating step hands back the old values as new tensors.
func TestStepDonatingMatchesStep(t *testing.T) {
	cfg := tinyConfig()
	phases := tinyPhases(t, cfg)
	g := phases[0]
	groups := tinyGroups()
	frozen, err := Flatten(groups, "heads")
	if err != nil {
		t.Fatal(err)
	}
	batch := map[string]*tensors.Tensor{"x": tinyTensor([]int{4, tinyIn}, 8), "y": tinyTensor([]int{4, 1}, 9)}
	clone := func(gr Group) Group {
		out := Group{}
		for n, v := range gr {
			c, err := v.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			out[n] = c
		}
		return out
	}
	state := g.Stepper.Optimizer().InitState(groups["student"])
	plain, err := g.Stepper.Step(clone(groups["student"]), frozen, nil, clone(state), batch, StepRNG(3, 0, 0, 0), 1e-2, 0)
	if err != nil {
		t.Fatal(err)
	}
	donatedW, donatedS := clone(groups["student"]), clone(state)
	got, err := g.Stepper.StepDonating(Donation{Trainable: true, OptState: true}, donatedW, frozen, nil, donatedS, batch, StepRNG(3, 0, 0, 0), 1e-2, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []struct {
		what       string
		want, have Group
	}{{"weights", plain.Trainable, got.Trainable}, {"optimizer state", plain.OptState, got.OptState}} {
		for n, w := range part.want {
			if !w.Equal(part.have[n]) {
				t.Errorf("%s %q differs between the donating and the plain step", part.what, n)
			}
		}
	}
	if plain.Loss != got.Loss || plain.GradNorm != got.GradNorm {
		t.Errorf("loss/grad norm %g/%g with donation, %g/%g without", got.Loss, got.GradNorm, plain.Loss, plain.GradNorm)
	}
	for n, v := range frozen {
		if !v.Ok() {
			t.Errorf("frozen tensor %q was invalidated", n)
		}
	}
	if !batch["x"].Ok() {
		t.Error("the batch was invalidated")
	}

	// A skipped step (non-finite input) with donation returns the old values.
	nan := map[string]*tensors.Tensor{"x": tensors.FromValue([][]float32{{float32(math.NaN()), 0, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}}), "y": batch["y"]}
	before := clone(got.Trainable)
	skipped, err := g.Stepper.StepDonating(Donation{Trainable: true, OptState: true}, got.Trainable, frozen, nil, got.OptState, nan, StepRNG(3, 1, 0, 0), 1e-2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !skipped.Skipped {
		t.Fatal("a NaN batch was not skipped")
	}
	for n, w := range before {
		if !w.Equal(skipped.Trainable[n]) {
			t.Errorf("skipped donating step changed %q", n)
		}
	}
}
