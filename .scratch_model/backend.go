package main

import (
	"fmt"
	"os"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/gomlx/backends/default"
)

// newBackend opens the compute backend named by GOMLX_BACKEND (default: the pure-Go backend).
// Automatic installation of XLA plugins is switched off: sprint never downloads at run time,
// so an XLA backend needs a local plugin path, e.g. GOMLX_BACKEND=xla:/path/xla_cuda_plugin.so.
func newBackend() (b compute.Backend, err error) {
	if _, set := os.LookupEnv("GOMLX_NO_AUTO_INSTALL"); !set {
		_ = os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
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
