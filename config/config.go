package config

import (
	"fmt"
	"os"

	"github.com/sprint-distill/sprint/caption"

	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/eval"
	"github.com/sprint-distill/sprint/eval/shapes"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// Config is the whole configuration of a sprint job. Each section is owned, documented and
// validated by its package; `sprint config show` prints every key with its value.
type Config struct {
	Model   model.Config      `mapstructure:"model"`
	Data    data.Config       `mapstructure:"data"`
	Train   train.Config      `mapstructure:"train"`
	Distill distill.Config    `mapstructure:"distill"`
	Log     train.LogConfig   `mapstructure:"log"`
	Eval    eval.Config       `mapstructure:"eval"`
	Demo    shapes.DemoConfig `mapstructure:"demo"`
	Text    caption.Config    `mapstructure:"text"`

	// Control is the ControlNet section (distill.ControlConfig).
	Control distill.ControlConfig `mapstructure:"control"`
}

// Default returns the configuration with every key at its documented default.
func Default() Config {
	return Config{
		Model:   model.DefaultConfig(),
		Data:    data.DefaultConfig(),
		Train:   train.DefaultConfig(),
		Distill: distill.DefaultConfig(),
		Log:     train.DefaultLogConfig(),
		Eval:    eval.DefaultConfig(),
		Demo:    shapes.DefaultDemoConfig(),
		Text:    caption.DefaultConfig(),
		Control: distill.DefaultControlConfig(),
	}
}

// Load reads the YAML file at path (empty: defaults only) with its bases, applies SPRINT_*
// environment variables and the key=value overrides, and validates every section.
func Load(path string, overrides []string) (*Config, error) {
	cfg := Default()
	if err := LoadInto(&cfg, path, Options{Set: overrides, Env: os.Environ()}); err != nil {
		return nil, err
	}
	if err := ValidateSections(&cfg); err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, err
	}
	return &cfg, nil
}
