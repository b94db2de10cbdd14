package train

import (
	"context"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// TestDataParallelOneDeviceIsPlain: a run whose phases come from NewPhases (one data-parallel
// placement, train.devices 0 = every device of the Go backend, i.e. one) ends with bitwise the
// groups of the same run with plain single-device steppers; both include a skipped NaN step.
func TestDataParallelOneDeviceIsPlain(t *testing.T) {
	cfg := tinyConfig()
	cfg.Devices = 0
	specs := []PhaseSpec{
		{Name: "g", Loss: tinyGLoss, Trainable: "student", Frozen: []string{"heads"}, Repeat: cfg.PhaseRatio.G, Generator: true},
		{Name: "d", Loss: tinyDLoss, Trainable: "heads", Frozen: []string{"student"}, Buffers: "hbuf", Repeat: cfg.PhaseRatio.D},
	}
	run := func(phases []Phase) map[string]string {
		opts := tinyOptions(t, t.TempDir(), cfg, &fakeSource{nanAt: 4})
		opts.Phases = phases
		res, r, err := runTiny(t, context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.GlobalStep != cfg.MaxSteps {
			t.Fatalf("run ended at step %d", res.GlobalStep)
		}
		return groupDigests(t, r.Groups())
	}
	dp, err := NewPhases(testBackend(t), cfg, specs...)
	if err != nil {
		t.Fatal(err)
	}
	if dp[0].Stepper.dp == nil || dp[0].Stepper.dp != dp[1].Stepper.dp || dp[0].Stepper.dp.Devices() != 1 {
		t.Fatalf("NewPhases: phases do not share a one-device placement")
	}
	var plain []Phase
	for _, s := range specs {
		p, err := NewPhase(testBackend(t), cfg, s)
		if err != nil {
			t.Fatal(err)
		}
		plain = append(plain, p)
	}
	a, b := run(dp), run(plain)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d vs %d tensors", len(a), len(b))
	}
	for n, d := range a {
		if b[n] != d {
			t.Errorf("%s differs between the data-parallel path with one device and the plain step", n)
		}
	}
	if _, err := NewDataParallel(testBackend(t), 2); err == nil {
		t.Error("two devices accepted on a one-device backend")
	}
}

// TestDataParallelHostSide checks the host side of a 4-device placement without devices: the
// batch split by rows (device d gets rows [d·B/4, (d+1)·B/4)), replicated inputs copied once
// and reused, device-major arguments, device 0's outputs kept and the replaced inputs' copies
// forgotten; a batch that does not divide is an error naming the keys.
func TestDataParallelHostSide(t *testing.T) {
	p, err := newDataParallel(4)
	if err != nil {
		t.Fatal(err)
	}
	layout := stepLayout{trainable: []string{"w"}, frozen: []string{"teacher/v"}, state: []string{"count"}, batch: []string{"x"}}
	w := tensors.FromValue([]float32{1, 2})
	v := tensors.FromValue([]float32{3})
	count := tensors.FromScalar(int64(5))
	x := tensors.FromValue([][]float32{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}, {10, 11}, {12, 13}, {14, 15}})
	rng, lr, step := StepRNG(1, 0, 0, 0), tensors.FromScalar(float32(0.1)), tensors.FromScalar(int64(0))
	args := []any{w, v, count, x, rng, lr, step}
	out, err := p.distribute(layout, args)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4*len(args) {
		t.Fatalf("%d arguments for 4 devices of %d inputs", len(out), len(args))
	}
	for d := range 4 {
		dev := out[d*len(args) : (d+1)*len(args)]
		rows := tensors.MustCopyFlatData[float32](dev[3].(*tensors.Tensor))
		want := []float32{float32(4 * d), float32(4*d + 1), float32(4*d + 2), float32(4*d + 3)}
		if !slices.Equal(rows, want) {
			t.Errorf("device %d batch rows %v, want %v", d, rows, want)
		}
		if got := tensors.MustCopyFlatData[float32](dev[0].(*tensors.Tensor)); !slices.Equal(got, []float32{1, 2}) {
			t.Errorf("device %d weight copy %v", d, got)
		}
	}
	if out[0].(*tensors.Tensor) != w || out[len(args)].(*tensors.Tensor) == w {
		t.Error("device 0 should get the tensor itself, the others copies")
	}
	again, err := p.distribute(layout, args)
	if err != nil {
		t.Fatal(err)
	}
	if again[len(args)+1] != out[len(args)+1] {
		t.Error("the frozen tensor was copied again for device 1")
	}

	// Outputs: new w, new count, then two scalars, per device.
	outs := make([]*tensors.Tensor, 0, 16)
	for range 4 {
		outs = append(outs, tensors.FromValue([]float32{9, 9}), tensors.FromScalar(int64(6)), tensors.FromScalar(float32(1)), tensors.FromScalar(float32(2)))
	}
	host := []*tensors.Tensor{w, v, count, x, rng, lr, step}
	res := p.collect(layout, host, outs)
	if len(res) != 4 || res[0] != outs[0] {
		t.Fatalf("collect returned %d outputs", len(res))
	}
	if _, ok := p.replicas[w]; ok {
		t.Error("the replaced weight's copies are still kept")
	}
	if _, ok := p.replicas[v]; !ok {
		t.Error("the frozen tensor's copies were dropped")
	}
	if r := p.replicas[outs[0]]; len(r) != 4 || r[3] != outs[12] {
		t.Error("the new weight's copies on the other devices are not kept")
	}
	if _, ok := p.replicas[outs[2]]; ok {
		t.Error("a scalar metric's copies are kept")
	}

	odd := tensors.FromValue([][]float32{{1}, {2}, {3}})
	if _, err := p.distribute(layout, []any{w, v, count, odd, rng, lr, step}); err == nil {
		t.Error("a batch of 3 split over 4 devices")
	}
}
