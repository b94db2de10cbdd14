package backendconfig

import "testing"

func TestResolve(t *testing.T) {
	cases := []struct {
		env  string
		set  bool
		want string
	}{
		{"", false, "go:num_executors=2"},
		{"go", true, "go:num_executors=2"},
		{"go:", true, "go:num_executors=2"},
		{"go:ops_sequential", true, "go:ops_sequential,num_executors=2"},
		{"go:num_executors=8", true, "go:num_executors=8"},
		{"go:parallelism=4,num_executors=1", true, "go:parallelism=4,num_executors=1"},
		{"xla:/abs/xla_cuda_plugin.so", true, "xla:/abs/xla_cuda_plugin.so"},
		{"xla:cpu", true, "xla:cpu"},
		{"", true, ""}, // set but empty: the caller's choice (compute picks its default), unchanged
	}
	for _, c := range cases {
		if got := Resolve(c.env, c.set, 2); got != c.want {
			t.Errorf("Resolve(%q, %v, 2) = %q, want %q", c.env, c.set, got, c.want)
		}
	}
}

func TestResolveLowMemory(t *testing.T) {
	cases := []struct {
		env  string
		set  bool
		want string
	}{
		{"", false, "go:num_executors=2,ops_sequential,creation_order"},
		{"go", true, "go:num_executors=2,ops_sequential,creation_order"},
		{"go:num_executors=8", true, "go:num_executors=8,ops_sequential,creation_order"},
		{"go:ops_parallel", true, "go:ops_parallel,num_executors=2"},
		{"go:dependency_order", true, "go:dependency_order,num_executors=2"},
		{"go:ops_sequential", true, "go:ops_sequential,num_executors=2"},
		{"xla:cpu", true, "xla:cpu"},
		{"", true, ""},
	}
	for _, c := range cases {
		if got := ResolveLowMemory(c.env, c.set, 2); got != c.want {
			t.Errorf("ResolveLowMemory(%q, %v, 2) = %q, want %q", c.env, c.set, got, c.want)
		}
	}
}
