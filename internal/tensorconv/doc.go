// Package tensorconv converts GoMLX host tensors between element types on the CPU: to and
// from the floating-point dtypes sprint stores and computes in (float64, float32, bfloat16,
// float16), from the integer and boolean dtypes of masks, to and from float64 values, and to
// float32 values.
// Each conversion goes element by element, without a float64 copy of the whole tensor.
//
// It is not for graphs (graph.ConvertDType converts nodes on the backend), and it does not
// decide which conversions a package accepts: the loaders and models that call it check the
// dtypes they allow and word their own errors.
package tensorconv
