package gemma

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// benchLength is the encoder length T SANA uses: the instruction's tokens plus 298. SANA's
// instruction is about 970 characters, roughly 210–230 Gemma tokens, so T ≈ 510; 512 is used.
const benchLength = 512

// BenchmarkEncode2B runs the encoder on a batch of 4 prompts at Gemma-2-2B's width (2304,
// 8×256 query heads on 4 key/value heads, MLP 9216) but only 2 of its 26 layers (random
// weights at full depth do not fit a 2-core machine's patience) and a 4096-row embedding
// table (the lookup's cost does not depend on the vocabulary). It reports the time per layer
// and the extrapolation to 26 layers. Run it alone:
//
//	go test ./gemma -run '^$' -bench Encode2B -benchtime 1x
func BenchmarkEncode2B(b *testing.B) {
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
		b.Run(dt.String(), func(b *testing.B) {
			c := Gemma2_2B()
			c.NumLayers, c.LayerTypes, c.VocabSize = 2, DefaultLayerTypes(2), 4096
			p := make(Params)
			rng := rand.New(rand.NewPCG(1, 2))
			for _, s := range ParamSpecs(c) {
				v := make([]float32, s.Size())
				for i := range v {
					v[i] = float32(rng.Float64()-0.5) * 0.05
				}
				t, err := ConvertTensor(tensors.FromFlatDataAndDimensions(v, s.Dims...), dt)
				if err != nil {
					b.Fatal(err)
				}
				p[s.Name] = t
			}
			r, err := NewRunner(testBackend(b), c, p, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			const B = 4
			rows := make([][]int, B)
			for i := range rows {
				n := 300 + 50*i // real tokens; the rest is padding
				rows[i] = make([]int, n)
				for j := range rows[i] {
					rows[i][j] = 2 + rng.IntN(c.VocabSize-2)
				}
			}
			ids, mask := idsTensor(rows, benchLength, c.PadTokenID)
			start := time.Now()
			if _, err := r.Hidden(ids, mask); err != nil { // compiles
				b.Fatal(err)
			}
			b.Logf("%s: first call (compile + run) %s", dt, time.Since(start).Round(time.Millisecond))
			b.ResetTimer()
			for range b.N {
				if _, err := r.Hidden(ids, mask); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			perLayer := b.Elapsed().Seconds() / float64(b.N) / float64(c.NumLayers)
			b.ReportMetric(perLayer*1e3, "ms/layer")
			b.ReportMetric(perLayer*26, "s/batch@26layers")
			b.ReportMetric(perLayer*26/B, "s/prompt@26layers")
		})
	}
}
