//go:build goexperiment.simd

package main

// simdCompiled reports whether this binary was built with GOEXPERIMENT=simd, which compiles in
// the Go backend's AVX2/AVX-512 kernels.
const simdCompiled = true
