package model

import (
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

func TestScratchStepAB(t *testing.T) {
	cfg, _ := PresetConfig(PresetDemo)
	p := randomParams(t, cfg, Student, 1)
	names, _ := p.Sorted()
	side, B := cfg.LatentSize, 16
	dt := dtypes.Float32
	x := randn(dt, 2, B, cfg.InChannels, side, side)
	theta := fromFloats(dt, make([]float64, B), B)
	g := fromFloats(dt, make([]float64, B), B)
	_, _, text, mask := tinyInputs(cfg, B, side, 3)
	args := append(p.Args(), x, theta, text, mask, g)
	mk := func(twoD bool) *Exec {
		linear2D = twoD
		e, _ := NewExec(testBackend(t), func(gr *Graph, in []*Node) []*Node {
			w := WeightsFromNodes(names, in[:len(names)])
			d := in[len(names):]
			F, _, _ := TrigFlow(cfg, w, d[0], d[1], d[2], d[3], d[4], nil)
			return Gradient(ReduceAllMean(Square(F)), in[:len(names)]...)
		})
		if _, err := e.Exec(args...); err != nil {
			t.Fatal(err)
		}
		return e
	}
	ea, eb := mk(false), mk(true)
	ba, bb := time.Hour, time.Hour
	for range 8 {
		s := time.Now()
		ea.Exec(args...)
		ba = min(ba, time.Since(s))
		s = time.Now()
		eb.Exec(args...)
		bb = min(bb, time.Since(s))
	}
	t.Logf("3D %v   2D %v", ba, bb)
}
