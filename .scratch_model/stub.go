package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/sprint-distill/sprint/model"
)

type configFlags struct{ sets []string }

func (f *configFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.sets, "set", nil, "override")
}

type stubCfg struct{ Model model.Config }

func stubLoad(path string, sets []string) (*stubCfg, error) {
	c := model.DefaultConfig()
	for _, s := range sets {
		if v, ok := strings.CutPrefix(s, "model.preset="); ok {
			c.Preset = v
		}
	}
	return &stubCfg{Model: c}, c.Validate()
}

