package demo

import (
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/train"
)

// TestSampledStudent: the demo samples the student's EMA exactly when train.ema averages the
// student and the run kept it, its last weights otherwise.
func TestSampledStudent(t *testing.T) {
	last := tensors.FromValue([]float32{1})
	avg := tensors.FromValue([]float32{2})
	groups := map[string]train.Group{"student": {"w": last}, "ema_student": {"w": avg}}
	for _, tc := range []struct {
		enabled bool
		group   string
		groups  map[string]train.Group
		want    *tensors.Tensor
	}{
		{true, "student", groups, avg},
		{false, "student", groups, last},
		{true, "teacher", groups, last},
		{true, "student", map[string]train.Group{"student": {"w": last}}, last},
	} {
		cfg := config.Default()
		cfg.Train.EMA.Enabled, cfg.Train.EMA.Group = tc.enabled, tc.group
		if got := sampledStudent(&cfg, tc.groups)["w"]; got != tc.want {
			t.Errorf("ema %v on %q with groups %d: sampled the wrong weights", tc.enabled, tc.group, len(tc.groups))
		}
	}
}
