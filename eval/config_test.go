package eval

import (
	"strings"
	"testing"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
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
