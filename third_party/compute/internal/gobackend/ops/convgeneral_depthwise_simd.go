//go:build goexperiment.simd

package ops

import "simd"

func init() { depthwiseRowFMAFloat32 = depthwiseRowFMASIMDFloat32 }

// depthwiseRowFMASIMDFloat32 is depthwiseRowFMAGeneric for float32 with vector multiply-adds.
func depthwiseRowFMASIMDFloat32(out, in, k []float32) {
	c := len(k)
	vLen := simd.BroadcastFloat32s(0).Len()
	for o := 0; o < len(out); o += c {
		dst, src := out[o:o+c], in[o:o+c]
		i := 0
		for ; i+vLen <= c; i += vLen {
			simd.LoadFloat32s(src[i:]).MulAdd(simd.LoadFloat32s(k[i:]), simd.LoadFloat32s(dst[i:])).Store(dst[i:])
		}
		if i < c {
			vs, _ := simd.LoadFloat32sPart(src[i:])
			vk, _ := simd.LoadFloat32sPart(k[i:])
			vd, _ := simd.LoadFloat32sPart(dst[i:])
			vs.MulAdd(vk, vd).StorePart(dst[i:])
		}
	}
}
