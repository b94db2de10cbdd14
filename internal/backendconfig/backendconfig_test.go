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
