package model

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// TestStagesEqualTrigFlow: In, the blocks and Out of TrigFlowStages, composed, give TrigFlow's F
// and logvar bitwise, for the student (with guidance) and the teacher, in float32 and bfloat16.
func TestStagesEqualTrigFlow(t *testing.T) {
	for _, dtype := range []string{"float32", "bfloat16"} {
		for _, role := range []Role{Student, Teacher} {
			cfg := tinyConfig(t, dtype)
			p := randomParams(t, cfg, role, 51)
			x, tt, text, mask := tinyInputs(cfg, 2, cfg.LatentSize, 52)
			g := fromFloats(dtypes.Float32, []float64{4.5, 2}, 2)
			outs := runWith(t, p, func(w Weights, in []*Node) []*Node {
				var guidance *Node
				if role == Student {
					guidance = in[4]
				}
				theta := TToTheta(in[1])
				f, lv, _ := TrigFlow(cfg, w, in[0], theta, in[2], in[3], guidance, nil)
				st := TrigFlowStages(cfg, w, in[2], in[3], guidance)
				s := st.In(in[0], theta)
				h := s[0]
				for _, b := range st.Blocks {
					h = b(h, s[1])
				}
				o := st.Out(h, s[2], s[3], s[4])
				if (lv == nil) != (o[1] == nil) {
					t.Fatalf("%s role %v: logvar %v from TrigFlow, %v from the stages", dtype, role, lv, o[1])
				}
				if lv == nil {
					return []*Node{f, o[0]}
				}
				return []*Node{f, o[0], lv, o[1]}
			}, x, tt, text, mask, g)
			if want := map[Role]int{Student: 4, Teacher: 2}[role]; len(outs) != want {
				t.Fatalf("%s role %v: %d outputs, want %d", dtype, role, len(outs), want)
			}
			for i := 0; i+1 < len(outs); i += 2 {
				if d := maxAbsDiff(floats(t, outs[i]), floats(t, outs[i+1])); d != 0 {
					t.Errorf("%s role %v: output %d of the stages differs from TrigFlow's by %g", dtype, role, i/2, d)
				}
			}
		}
	}
}
