package distill

import (
	"math"
	"strings"
	"testing"
)

func TestDefaultConfigIsValidAndReference(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	// Reference values (§2, §3, [C16]).
	checks := []struct {
		name      string
		got, want float64
	}{
		{"sigma_data", c.SigmaData, 0.5}, {"scm_p_mean", c.ScmPMean, 0.2}, {"scm_p_std", c.ScmPStd, 1.6},
		{"disc_p_mean", c.DiscPMean, -0.6}, {"disc_p_std", c.DiscPStd, 1.0},
		{"tangent_warmup_steps", float64(c.TangentWarmupSteps), 4000}, {"g_norm_constant", c.GNormConstant, 0.1},
		{"scm_lambda", c.ScmLambda, 1}, {"adv_lambda", c.AdvLambda, 0.5}, {"virtual_batch", float64(c.VirtualBatch), 8},
		{"largest_timestep", c.LargestTimestep, 1.5708}, {"largest_timestep_prob", c.LargestTimestepProb, 0.5},
		{"r1_weight", c.R1Weight, 0},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.CfgScales) != 3 || c.CfgScales[0] != 4 || c.CfgScales[2] != 5 {
		t.Errorf("cfg_scales = %v", c.CfgScales)
	}
	if len(c.HeadBlockIDs) != 4 || c.HeadBlockIDs[3] != 19 {
		t.Errorf("head_block_ids = %v", c.HeadBlockIDs)
	}
	if !c.MisalignedPairs || !c.DiffTimestepsD || !c.TrainLargestTimestep || c.TangentWarmupCounter != CounterGlobal {
		t.Errorf("booleans/counter not at the reference: %+v", c)
	}
	if !c.UsesCFG() || !c.LADD() || !c.SCM() {
		t.Errorf("defaults should use CFG, LADD and sCM")
	}
}

// TestValidateNamesKeys checks that each bad value is reported with its key.
func TestValidateNamesKeys(t *testing.T) {
	cases := []struct {
		key string
		mod func(*Config)
	}{
		{"distill.sigma_data", func(c *Config) { c.SigmaData = 0 }},
		{"distill.scm_p_std", func(c *Config) { c.ScmPStd = -1 }},
		{"distill.disc_p_std", func(c *Config) { c.DiscPStd = 0 }},
		{"distill.disc_p_mean", func(c *Config) { c.DiscPMean = math.NaN() }},
		{"distill.cfg_scales", func(c *Config) { c.CfgScales = nil }},
		{"distill.cfg_scales[1]", func(c *Config) { c.CfgScales = []float64{4, -1} }},
		{"distill.tangent_warmup_steps", func(c *Config) { c.TangentWarmupSteps = -1 }},
		{"distill.tangent_warmup_counter", func(c *Config) { c.TangentWarmupCounter = "epochs" }},
		{"distill.g_norm_constant", func(c *Config) { c.GNormConstant = 0 }},
		{"distill.scm_lambda", func(c *Config) { c.ScmLambda, c.AdvLambda = 0, 0 }},
		{"distill.adv_lambda", func(c *Config) { c.AdvLambda = -0.5 }},
		{"distill.head_block_ids", func(c *Config) { c.HeadBlockIDs = nil }},
		{"distill.head_block_ids[1]", func(c *Config) { c.HeadBlockIDs = []int{2, 2} }},
		{"distill.virtual_batch", func(c *Config) { c.VirtualBatch = 0 }},
		{"distill.largest_timestep", func(c *Config) { c.LargestTimestep = 2 }},
		{"distill.largest_timestep_prob", func(c *Config) { c.LargestTimestepProb = 1.5 }},
		{"distill.r1_weight", func(c *Config) { c.R1Weight = -1 }},
		{"distill.flow_matching.time_sampling", func(c *Config) { c.FlowMatching.TimeSampling = "beta" }},
		{"distill.flow_matching.logit_std", func(c *Config) { c.FlowMatching.LogitStd = 0 }},
		{"distill.flow_matching.caption_dropout", func(c *Config) { c.FlowMatching.CaptionDropout = 1 }},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%s: got error %v, want one naming the key", tc.key, err)
		}
	}
	// LADD off needs no heads; sCM off is allowed alone.
	c := DefaultConfig()
	c.AdvLambda, c.HeadBlockIDs = 0, nil
	if err := c.Validate(); err != nil {
		t.Errorf("sCM-only config rejected: %v", err)
	}
	c = DefaultConfig()
	c.ScmLambda = 0
	if err := c.Validate(); err != nil {
		t.Errorf("LADD-only config rejected: %v", err)
	}
}
