// Package testbackend gives tests one shared GoMLX backend, configured as the CLI's (package
// backendconfig): the one GOMLX_BACKEND names, else the pure-Go backend with one executor per
// CPU (never an auto-installing XLA plugin). It is for tests only.
package testbackend

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"

	"github.com/sprint-distill/sprint/internal/backendconfig"
)

var (
	once    sync.Once
	backend compute.Backend
	err     error
)

func shared() (compute.Backend, error) {
	once.Do(func() {
		backend, err = compute.NewWithConfig(backendconfig.FromEnv())
	})
	return backend, err
}

// Get returns the shared test backend, failing t if it cannot be created.
func Get(t testing.TB) compute.Backend {
	t.Helper()
	b, err := shared()
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	return b
}

// Must returns the shared test backend, panicking if it cannot be created: for helpers that
// have no testing.TB at hand.
func Must() compute.Backend {
	b, err := shared()
	if err != nil {
		panic(fmt.Sprintf("backend: %v", err))
	}
	return b
}
