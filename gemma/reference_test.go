package gemma

import "math"

// refForward is an independent plain-Go, float64, loop-by-loop implementation of Gemma2Model's
// eager forward (transformers' modeling_gemma2.py read as formulas), used to check Forward. ids
// are B rows of T tokens, mask the padding mask (1 token, 0 padding). It returns (B, T, D).
func refForward(c Config, p map[string][]float64, ids [][]int, mask [][]float64, softcap bool) [][][]float64 {
	B, T, D := len(ids), len(ids[0]), c.HiddenSize
	H, KV, hd := c.NumHeads, c.NumKVHeads, c.HeadDim
	G := H / KV
	h := make([][][]float64, B)
	emb := p[EmbedTokens]
	for b := range B {
		h[b] = make([][]float64, T)
		for t := range T {
			h[b][t] = make([]float64, D)
			for k := range D {
				h[b][t][k] = emb[ids[b][t]*D+k] * math.Sqrt(float64(D))
			}
		}
	}
	// matVec returns W·x for W (out, in) row-major.
	matVec := func(W []float64, x []float64, out int) []float64 {
		in := len(x)
		y := make([]float64, out)
		for o := range out {
			s := 0.0
			for i := range in {
				s += W[o*in+i] * x[i]
			}
			y[o] = s
		}
		return y
	}
	rms := func(x, w []float64) []float64 {
		ms := 0.0
		for _, v := range x {
			ms += v * v
		}
		ms /= float64(len(x))
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = v / math.Sqrt(ms+c.RMSNormEps) * (1 + w[i])
		}
		return y
	}
	rope := func(x []float64, pos int) { // one head, in place, "rotate half" pairs (i, i+hd/2)
		for i := range hd / 2 {
			angle := float64(pos) / math.Pow(c.RopeTheta, float64(2*i)/float64(hd))
			x1, x2 := x[i], x[i+hd/2]
			x[i] = x1*math.Cos(angle) - x2*math.Sin(angle)
			x[i+hd/2] = x2*math.Cos(angle) + x1*math.Sin(angle)
		}
	}
	gelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	for l := range c.NumLayers {
		pre := LayerPrefix(l)
		sliding := c.SlidingWindow > 0 && c.LayerTypes[l] == SlidingAttention
		for b := range B {
			q := make([][]float64, T)
			k := make([][]float64, T)
			v := make([][]float64, T)
			for t := range T {
				n := rms(h[b][t], p[pre+InputNorm])
				q[t] = matVec(p[pre+QProj], n, H*hd)
				k[t] = matVec(p[pre+KProj], n, KV*hd)
				v[t] = matVec(p[pre+VProj], n, KV*hd)
				for hh := range H {
					rope(q[t][hh*hd:(hh+1)*hd], t)
				}
				for kh := range KV {
					rope(k[t][kh*hd:(kh+1)*hd], t)
				}
			}
			next := make([][]float64, T)
			for i := range T {
				att := make([]float64, H*hd)
				for hq := range H {
					kh := hq / G // transformers' repeat_kv: query head hq reads key/value head hq / G
					scores := make([]float64, T)
					allowed := make([]bool, T)
					anyAllowed := false
					for j := range T {
						s := 0.0
						for d := range hd {
							s += q[i][hq*hd+d] * k[j][kh*hd+d]
						}
						s /= math.Sqrt(c.QueryPreAttnScalar)
						if softcap && c.AttnLogitSoftcapping > 0 {
							s = c.AttnLogitSoftcapping * math.Tanh(s/c.AttnLogitSoftcapping)
						}
						scores[j] = s
						allowed[j] = j <= i && mask[b][j] != 0 && (!sliding || i-j < c.SlidingWindow)
						anyAllowed = anyAllowed || allowed[j]
					}
					// softmax over the allowed keys; a row with none is uniform over all keys.
					weights := make([]float64, T)
					if !anyAllowed {
						for j := range T {
							weights[j] = 1 / float64(T)
						}
					} else {
						m := math.Inf(-1)
						for j := range T {
							if allowed[j] {
								m = math.Max(m, scores[j])
							}
						}
						sum := 0.0
						for j := range T {
							if allowed[j] {
								weights[j] = math.Exp(scores[j] - m)
								sum += weights[j]
							}
						}
						for j := range T {
							weights[j] /= sum
						}
					}
					for j := range T {
						for d := range hd {
							att[hq*hd+d] += weights[j] * v[j][kh*hd+d]
						}
					}
				}
				a := rms(matVec(p[pre+OProj], att, D), p[pre+PostAttnNorm])
				x := make([]float64, D)
				for k := range D {
					x[k] = h[b][i][k] + a[k]
				}
				m := rms(x, p[pre+PreFFNorm])
				g := matVec(p[pre+GateProj], m, c.IntermediateSize)
				u := matVec(p[pre+UpProj], m, c.IntermediateSize)
				for k := range g {
					g[k] = gelu(g[k]) * u[k]
				}
				f := rms(matVec(p[pre+DownProj], g, D), p[pre+PostFFNorm])
				for k := range D {
					x[k] += f[k]
				}
				next[i] = x
			}
			h[b] = next
		}
	}
	for b := range B {
		for t := range T {
			h[b][t] = rms(h[b][t], p[FinalNorm])
		}
	}
	return h
}
