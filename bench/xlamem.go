//go:build cgo

package bench

import (
	"reflect"
	"unsafe"

	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
	"github.com/gomlx/gomlx/core/graph"
)

// deviceMemory returns the device memory XLA's compiler reports for a compiled graph
// (generated code + inputs + outputs − aliases + temporaries, PJRT's CompiledMemoryStats), or
// false on backends that do not report it (the Go backend). go-xla computes these statistics
// at compile time but keeps them in an unexported field; it is read by reflection, checked
// against the expected type, and reported as unavailable if go-xla changes.
func deviceMemory(g *graph.Graph) (int64, bool) {
	if g == nil {
		return 0, false
	}
	e, ok := g.Executable().(*xla.Executable)
	if !ok || e == nil {
		return 0, false
	}
	f := reflect.ValueOf(e).Elem().FieldByName("exec")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*pjrt.LoadedExecutable)(nil)) || f.IsNil() {
		return 0, false
	}
	le := (*pjrt.LoadedExecutable)(unsafe.Pointer(f.Pointer()))
	return le.OnDeviceMemoryUsageStats.Requirements(), true
}
