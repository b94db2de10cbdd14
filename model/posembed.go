package model

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"
)

// posEmbedTable is SANA's fixed 2-D sin-cos positional embedding (use_pe; diffusers' PatchEmbed
// with pos_embed_type "sincos") of an hp×wp token grid, hp·wp rows of D values in token order
// (row-major over row i, column j). The grid coordinates are scaled to the base grid
// n = latent_size/patch_size and divided by pe_interpolation s:
//
//	gi = i·n/hp/s, gj = j·n/wp/s
//
// The first D/2 features embed the column gj, the last D/2 the row gi; each half is
// [sin(g·ω_k) for k < D/4, cos(g·ω_k) for k < D/4] with ω_k = 10000^(−k/(D/4)).
func posEmbedTable(cfg Config, hp, wp int) [][]float32 {
	D := cfg.HiddenSize
	q := D / 4
	base := float64(cfg.LatentSize / cfg.PatchSize)
	s := cfg.PEInterpolation
	omega := make([]float64, q)
	for k := range omega {
		omega[k] = 1 / math.Pow(10000, float64(k)/float64(q))
	}
	half := func(row []float32, g float64) {
		for k, om := range omega {
			row[k] = float32(math.Sin(g * om))
			row[q+k] = float32(math.Cos(g * om))
		}
	}
	table := make([][]float32, hp*wp)
	for i := range hp {
		gi := float64(i) * base / float64(hp) / s
		for j := range wp {
			gj := float64(j) * base / float64(wp) / s
			row := make([]float32, D)
			half(row[:D/2], gj)
			half(row[D/2:], gi)
			table[i*wp+j] = row
		}
	}
	return table
}

// addPosEmbed adds the positional embedding to tokens tok (B, hp·wp, D) when cfg.UsePE; it
// returns tok unchanged otherwise. The table is a constant of the graph, in tok's dtype.
func addPosEmbed(cfg Config, tok *Node, hp, wp int) *Node {
	if !cfg.UsePE {
		return tok
	}
	pe := ConvertDType(Const(tok.Graph(), posEmbedTable(cfg, hp, wp)), tok.DType())
	return Add(tok, InsertAxes(pe, 0))
}
