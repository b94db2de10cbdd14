// Package tensortest holds the helpers that the numeric tests of sprint's networks (model,
// vae, gemma, distill, train) share to read host tensors and compare their values: Floats
// reads any float or mask tensor as float64s, MaxAbsDiff and MaxAbs measure them, and
// Depthwise is the loop-by-loop reference of a depthwise convolution.
//
// It is for tests only. It builds no graphs and holds no backend (internal/testbackend does),
// and it has no tolerance policy: each test states its own.
package tensortest
