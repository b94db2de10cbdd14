package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

// TestBenchTiny runs every measurement on the tiny preset (batch 2) and checks the report:
// positive times, FLOPs from the shapes (passes × batch × forward FLOPs), MFU only with a
// peak, no device memory on the Go backend, and the JSON and table outputs.
func TestBenchTiny(t *testing.T) {
	cfg, err := config.Load("", []string{"model.preset=tiny", "distill.head_block_ids=[0,1]", "train.batch_size=2", "model.grad_checkpointing=true"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(testbackend.Get(t), cfg, Options{Repeats: 1, PeakTFLOPS: 1, SampleSteps: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{StepFM, StepG, StepD, "sample_1", "sample_2"}
	if len(rep.Rows) != len(want) {
		t.Fatalf("%d rows, want %v", len(rep.Rows), want)
	}
	fwd := rep.ForwardGFLOP * 1e9
	passes := map[string]float64{StepFM: fmPasses(), StepG: gPasses(cfg.Distill, 2), StepD: dPasses(cfg.Distill, 2), "sample_1": 1, "sample_2": 2}
	for i, r := range rep.Rows {
		if r.Name != want[i] {
			t.Errorf("row %d is %s, want %s", i, r.Name, want[i])
		}
		if !(r.StepSeconds > 0) || !(r.CompileSeconds > 0) || !(r.SamplesPerSecond > 0) {
			t.Errorf("%s: times %+v", r.Name, r)
		}
		if got, exp := r.ModelTFLOP*1e12, passes[r.Name]*2*fwd; got < exp*(1-1e-9) || got > exp*(1+1e-9) {
			t.Errorf("%s: model FLOPs %g, want %g", r.Name, got, exp)
		}
		if r.MFU == nil || *r.MFU != r.TFLOPS/1 {
			t.Errorf("%s: MFU %v with a peak of 1 TFLOP/s and %g TFLOP/s", r.Name, r.MFU, r.TFLOPS)
		}
		if r.DeviceMemoryBytes != nil {
			t.Errorf("%s: device memory reported on the Go backend", r.Name)
		}
	}
	if gPasses(cfg.Distill, 2) != 14 || dPasses(cfg.Distill, 2) != 4 {
		t.Errorf("reference recipe passes: G %g (want 14), D %g (want 4)", gPasses(cfg.Distill, 2), dPasses(cfg.Distill, 2))
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Rows) != len(rep.Rows) || back.Batch != 2 {
		t.Fatalf("JSON round trip: %v, %+v", err, back)
	}
	var tab bytes.Buffer
	rep.WriteTable(&tab)
	for _, s := range []string{"g_step", "sample_2", "n/a", "grad_checkpointing true"} {
		if !strings.Contains(tab.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, tab.String())
		}
	}
	if _, err := Run(testbackend.Get(t), cfg, Options{Only: []string{"x_step"}}); err == nil {
		t.Error("an unknown measurement was accepted")
	}
}

func TestPeakFor(t *testing.T) {
	if p := peakFor("NVIDIA H200 (sm_90)", dtypes.BFloat16); p != 989.4 {
		t.Errorf("H200 bf16 peak %g", p)
	}
	if p := peakFor("NVIDIA H100 80GB HBM3", dtypes.Float32); p != 494.7 {
		t.Errorf("H100 tf32 peak %g", p)
	}
	if p := peakFor("device#0", dtypes.Float32); p != 0 {
		t.Errorf("unknown device peak %g", p)
	}
}
