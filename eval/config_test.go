package eval

import (
	"math"
	"strings"
	"testing"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestGenEvalMaxOverlapDefault(t *testing.T) {
	// GenEval's evaluate_images.py reads max_overlap with a default of 1.0, which disables its NMS.
	if got := DefaultConfig().GenEvalMaxOverlap; got != 1 {
		t.Fatalf("default geneval_max_overlap %v, want 1", got)
	}
	c := DefaultConfig()
	c.GenEvalMaxOverlap = math.NaN()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "eval.geneval_max_overlap") {
		t.Fatalf("NaN max overlap: %v", err)
	}
	c.GenEvalMaxOverlap = 0
	if err := c.Validate(); err != nil {
		t.Fatalf("0 (one detection per class) is valid: %v", err)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	cases := map[string]func(*Config){
		"eval.clip_model":                 func(c *Config) { c.CLIPModel = "RN50" },
		"eval.batch_size":                 func(c *Config) { c.BatchSize = 0 },
		"eval.categories":                 func(c *Config) { c.Categories = []string{"animals", "cars"} },
		"eval.geneval_counting_threshold": func(c *Config) { c.GenEvalCountingThreshold = 1.5 },
		"eval.geneval_max_objects":        func(c *Config) { c.GenEvalMaxObjects = 0 },
		"eval.image_size":                 func(c *Config) { c.ImageSize = -1 },
		"eval.geneval_max_overlap":        func(c *Config) { c.GenEvalMaxOverlap = -0.5 },
	}
	for key, mutate := range cases {
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v does not name the key", key, err)
		}
	}
}
