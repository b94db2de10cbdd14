// Package backendconfig resolves the GoMLX backend configuration sprint runs with: the one
// GOMLX_BACKEND names, else the pure-Go backend ("go"), and for the Go backend a number of
// executors (goroutines that run ready graph nodes concurrently) equal to the number of CPUs
// unless the configuration sets num_executors itself.
//
// The Go backend's own default is 8 executors whatever the machine. On a 2-core machine 8
// executors compete with the matrix kernels' workers for the cores; 2 made a distillation step
// about 1.25 times faster there (measured in the project's notes on issue 17).
package backendconfig

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/gomlx/compute"
)

// GoBackend is the name of the pure-Go backend in a configuration string.
const GoBackend = "go"

// Resolve returns the configuration string to open: env when set is true (GOMLX_BACKEND's value),
// else "go"; a Go backend configuration without a num_executors option gets
// num_executors=<cpus>. Other backends' configurations are returned unchanged.
func Resolve(env string, set bool, cpus int) string {
	cfg := GoBackend
	if set {
		cfg = env
	}
	name, opts, _ := strings.Cut(cfg, ":")
	if name != GoBackend {
		return cfg
	}
	for opt := range strings.SplitSeq(opts, ",") {
		if key, _, _ := strings.Cut(opt, "="); key == "num_executors" {
			return cfg
		}
	}
	if opts == "" {
		return fmt.Sprintf("%s:num_executors=%d", GoBackend, cpus)
	}
	return fmt.Sprintf("%s:%s,num_executors=%d", GoBackend, opts, cpus)
}

// FromEnv is Resolve applied to GOMLX_BACKEND and runtime.NumCPU().
func FromEnv() string {
	env, set := os.LookupEnv(compute.ConfigEnvVar)
	return Resolve(env, set, runtime.NumCPU())
}
