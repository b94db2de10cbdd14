package main

import (
	"fmt"
	"os"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	_ "github.com/gomlx/gomlx/backends/default"
)

// newBackend opens the compute backend named by GOMLX_BACKEND, by default the pure-Go backend
// ("go"). Automatic installation of XLA plugins is switched off: sprint never downloads at run
// time, so an XLA backend needs a local plugin, e.g. GOMLX_BACKEND=xla:/path/xla_cuda_plugin.so.
func newBackend() (b compute.Backend, err error) {
	xla.EnableAutoInstall(false)
	if _, set := os.LookupEnv(compute.ConfigEnvVar); !set {
		compute.DefaultConfig = "go"
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("opening backend %q (GOMLX_BACKEND): %v", backendConfig(), r)
		}
	}()
	b, err = compute.New()
	if err != nil {
		return nil, fmt.Errorf("opening backend %q (GOMLX_BACKEND): %w", backendConfig(), err)
	}
	return b, nil
}

func backendConfig() string {
	if v, ok := os.LookupEnv(compute.ConfigEnvVar); ok {
		return v
	}
	return "go (default)"
}
