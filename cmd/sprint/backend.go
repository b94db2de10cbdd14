package main

import (
	"fmt"
	"os"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	_ "github.com/gomlx/gomlx/backends/default"

	"github.com/sprint-distill/sprint/internal/backendconfig"
)

// newBackend opens the compute backend named by GOMLX_BACKEND, by default the pure-Go backend
// ("go"), which gets one executor per CPU unless the variable sets num_executors (see package
// backendconfig). Automatic installation of XLA plugins is switched off: sprint never downloads
// at run time, so an XLA backend needs a local plugin, e.g.
// GOMLX_BACKEND=xla:/path/xla_cuda_plugin.so.
func newBackend() (b compute.Backend, err error) {
	return openBackend(backendconfig.FromEnv())
}

// openBackend opens a resolved backend configuration (see newBackend).
func openBackend(config string) (b compute.Backend, err error) {
	xla.EnableAutoInstall(false)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("opening backend %q (GOMLX_BACKEND): %v", configLabel(config), r)
		}
	}()
	b, err = compute.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("opening backend %q (GOMLX_BACKEND): %w", configLabel(config), err)
	}
	return b, nil
}

// withBackend runs f with the backend newBackend opens and finalizes the backend when f returns.
func withBackend(f func(compute.Backend) error) error {
	return withBackendConfig(backendconfig.FromEnv(), f)
}

// withBackendConfig is withBackend for a resolved configuration.
func withBackendConfig(config string, f func(compute.Backend) error) error {
	backend, err := openBackend(config)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	return f(backend)
}

// backendConfig is the configuration newBackend opens, marked "(default)" when GOMLX_BACKEND is
// not set.
func backendConfig() string {
	return configLabel(backendconfig.FromEnv())
}

// configLabel marks a backend configuration "(default)" when GOMLX_BACKEND did not choose it.
func configLabel(config string) string {
	if _, ok := os.LookupEnv(compute.ConfigEnvVar); ok {
		return config
	}
	return config + " (default)"
}
