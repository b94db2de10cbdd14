package model

import (
	"math"
	"testing"
)

// TestPosEmbedTable checks SANA's sin-cos table against values worked by hand from the formula
// (diffusers' get_2d_sincos_pos_embed): D = 8 gives ω = (1, 10000^(−1/2) = 0.01), the first
// half embeds the column, the second the row.
func TestPosEmbedTable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Preset, cfg.HiddenSize, cfg.LatentSize, cfg.PatchSize, cfg.UsePE = "", 8, 4, 1, true
	s := math.Sin
	c := math.Cos
	check := func(what string, got []float32, want []float64) {
		t.Helper()
		for k := range want {
			if math.Abs(float64(got[k])-want[k]) > 1e-6 {
				t.Fatalf("%s: feature %d = %g, want %g (row %v)", what, k, got[k], want[k], got)
			}
		}
	}
	tab := posEmbedTable(cfg, 4, 4)
	if len(tab) != 16 || len(tab[0]) != 8 {
		t.Fatalf("table %dx%d, want 16x8", len(tab), len(tab[0]))
	}
	check("origin", tab[0], []float64{0, 0, 1, 1, 0, 0, 1, 1})
	// Token (row 1, column 2) is number 1·4+2 = 6.
	check("row 1 column 2", tab[6], []float64{s(2), s(0.02), c(2), c(0.02), s(1), s(0.01), c(1), c(0.01)})

	// An 8×8 grid on the base grid 4 with pe_interpolation 2: coordinates i·4/8/2 = i/4.
	cfg.PEInterpolation = 2
	tab = posEmbedTable(cfg, 8, 8)
	check("interpolated row 4 column 2", tab[4*8+2], []float64{s(0.5), s(0.005), c(0.5), c(0.005), s(1), s(0.01), c(1), c(0.01)})
}

// TestPosEmbedSwitch: use_pe adds no parameter and changes the output; a width the table cannot
// split and a zero interpolation are config errors.
func TestPosEmbedSwitch(t *testing.T) {
	off := tinyConfig(t, "float32")
	on := off
	on.UsePE = true
	if len(ParamSpecs(on, Teacher)) != len(ParamSpecs(off, Teacher)) {
		t.Fatal("use_pe changed the parameter list")
	}
	p := randomParams(t, off, Teacher, 5)
	x, tt, text, mask := tinyInputs(off, 2, off.LatentSize, 6)
	vOn := floats(t, forwardOnce(t, on, p, x, tt, text, mask, nil, nil)[0])
	vOff := floats(t, forwardOnce(t, off, p, x, tt, text, mask, nil, nil)[0])
	if d := maxAbsDiff(vOn, vOff); d < 1e-4 {
		t.Errorf("use_pe changed the output by only %g", d)
	}
	bad := on
	bad.HiddenSize, bad.SelfHeadDim, bad.CrossHeads = 30, 10, 3
	if err := bad.Validate(); err == nil {
		t.Error("use_pe with hidden_size 30 (not divisible by 4) validated")
	}
	bad = on
	bad.PEInterpolation = 0
	if err := bad.Validate(); err == nil {
		t.Error("use_pe with pe_interpolation 0 validated")
	}
}
