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

// LowMemoryOptions are the Go backend options of a run that saves memory (a config with
// model.grad_checkpointing): the graph's nodes run one at a time in the order they were built.
// That order is the program's: each block's forward, its JVP stage by stage, the backward pass
// block by block with each block recomputed from its checkpoint just before its gradient, then
// the optimizer one parameter at a time. The default parallel executor runs every node as soon
// as its inputs are ready instead, so whatever depends only on weights or on the time embedding
// (the weights' float32 copies in the backward matmuls, broadcast modulations, the gradients'
// constant factors) is computed at the start and held until the backward pass reads it, for
// every block at once: with the 0.6B recipe at depth 8 the G step's live heap was 7.6 GB in
// parallel against 5.9 GB in creation order, at the same speed on 2 cores (the matrix kernels
// use the cores either way).
const LowMemoryOptions = "ops_sequential,creation_order"

// executionOptions are the Go backend options that choose how nodes are executed.
var executionOptions = []string{"ops_sequential", "ops_parallel", "creation_order", "dependency_order"}

// ResolveLowMemory is Resolve for a run that saves memory: a Go backend configuration that
// chooses no execution option gets LowMemoryOptions. Other backends' configurations, and Go
// backend ones that choose, are returned as Resolve returns them.
func ResolveLowMemory(env string, set bool, cpus int) string {
	cfg := Resolve(env, set, cpus)
	name, opts, _ := strings.Cut(cfg, ":")
	if name != GoBackend {
		return cfg
	}
	for opt := range strings.SplitSeq(opts, ",") {
		key, _, _ := strings.Cut(opt, "=")
		for _, o := range executionOptions {
			if key == o {
				return cfg
			}
		}
	}
	return fmt.Sprintf("%s:%s,%s", GoBackend, opts, LowMemoryOptions)
}

// FromEnvLowMemory is ResolveLowMemory applied to GOMLX_BACKEND and runtime.NumCPU().
func FromEnvLowMemory() string {
	env, set := os.LookupEnv(compute.ConfigEnvVar)
	return ResolveLowMemory(env, set, runtime.NumCPU())
}
