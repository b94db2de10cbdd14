package fid

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/sprint-distill/sprint/eval/npy"
)

// Stats are the Gaussian statistics FID compares: the mean and the unbiased (N−1) covariance of the
// features, in float64, as pytorch-fid computes them with np.mean and np.cov(rowvar=False).
type Stats struct {
	Dim   int
	N     int       // number of samples; 0 when unknown (loaded from a file)
	Mu    []float64 // [Dim]
	Sigma []float64 // [Dim*Dim], row-major

	// factor, when N <= Dim, is the D×N matrix A of centred samples / √(N−1), so Sigma = A·Aᵀ; it
	// lets the Fréchet distance of few samples work in N×N instead of D×D. Not saved.
	factor *mat.Dense
}

// Accumulator gathers features one batch at a time without keeping them. It accumulates sums around
// the first sample (shifted data), which keeps the covariance accurate for large N.
type Accumulator struct {
	dim     int
	n       int
	shift   []float64
	sum     []float64
	outer   *mat.SymDense
	pending *mat.Dense
	rows    int
	kept    [][]float64 // shifted samples, kept while n <= dim (for the low-rank factor)
}

const accumulateRows = 256

// NewAccumulator prepares an accumulator for dim-dimensional features.
func NewAccumulator(dim int) *Accumulator {
	return &Accumulator{dim: dim, sum: make([]float64, dim), outer: mat.NewSymDense(dim, nil),
		pending: mat.NewDense(accumulateRows, dim, nil)}
}

// N is the number of samples added so far.
func (a *Accumulator) N() int { return a.n }

// Add adds one feature vector.
func (a *Accumulator) Add(f []float32) error {
	if len(f) != a.dim {
		return fmt.Errorf("feature of size %d, want %d", len(f), a.dim)
	}
	if a.shift == nil {
		a.shift = make([]float64, a.dim)
		for i, v := range f {
			a.shift[i] = float64(v)
		}
	}
	row := a.pending.RawRowView(a.rows)
	for i, v := range f {
		d := float64(v) - a.shift[i]
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return fmt.Errorf("feature %d of sample %d is not finite (%v)", i, a.n, v)
		}
		row[i] = d
		a.sum[i] += d
	}
	if a.n < a.dim {
		a.kept = append(a.kept, append([]float64(nil), row...))
	} else {
		a.kept = nil
	}
	a.rows++
	a.n++
	if a.rows == accumulateRows {
		a.flush()
	}
	return nil
}

func (a *Accumulator) flush() {
	if a.rows == 0 {
		return
	}
	block := a.pending.Slice(0, a.rows, 0, a.dim)
	a.outer.SymRankK(a.outer, 1, block.T())
	a.rows = 0
}

// Stats returns mu and the N−1 covariance of what was added; it needs at least two samples.
func (a *Accumulator) Stats() (*Stats, error) {
	if a.n < 2 {
		return nil, fmt.Errorf("FID statistics need at least 2 images, have %d", a.n)
	}
	a.flush()
	n := float64(a.n)
	s := &Stats{Dim: a.dim, N: a.n, Mu: make([]float64, a.dim), Sigma: make([]float64, a.dim*a.dim)}
	m := make([]float64, a.dim)
	for i := range m {
		m[i] = a.sum[i] / n
		s.Mu[i] = a.shift[i] + m[i]
	}
	for i := 0; i < a.dim; i++ {
		for j := i; j < a.dim; j++ {
			v := (a.outer.At(i, j) - n*m[i]*m[j]) / (n - 1)
			s.Sigma[i*a.dim+j] = v
			s.Sigma[j*a.dim+i] = v
		}
	}
	if a.kept != nil && len(a.kept) == a.n {
		s.factor = mat.NewDense(a.dim, a.n, nil)
		scale := 1 / math.Sqrt(n-1)
		for k, row := range a.kept {
			for i, v := range row {
				s.factor.Set(i, k, (v-m[i])*scale)
			}
		}
	}
	return s, nil
}

// ComputeStats is the statistics of a feature set.
func ComputeStats(features [][]float32) (*Stats, error) {
	if len(features) == 0 {
		return nil, errors.New("FID statistics of an empty feature set")
	}
	acc := NewAccumulator(len(features[0]))
	for _, f := range features {
		if err := acc.Add(f); err != nil {
			return nil, err
		}
	}
	return acc.Stats()
}

// Save writes the statistics as pytorch-fid does: an .npz with mu (D) and sigma (D×D), float64.
func (s *Stats) Save(path string) error {
	if err := s.validate(); err != nil {
		return err
	}
	return npy.WriteNPZ(path,
		npy.Named{Name: "mu", Array: &npy.Array{Shape: []int{s.Dim}, Data: s.Mu}},
		npy.Named{Name: "sigma", Array: &npy.Array{Shape: []int{s.Dim, s.Dim}, Data: s.Sigma}})
}

// LoadStats reads an .npz with mu and sigma (pytorch-fid's, clean-fid's or ours).
func LoadStats(path string) (*Stats, error) {
	arrays, err := npy.ReadNPZ(path)
	if err != nil {
		return nil, err
	}
	mu, sigma := arrays["mu"], arrays["sigma"]
	if mu == nil || sigma == nil {
		return nil, fmt.Errorf("%s: FID statistics need arrays mu and sigma", path)
	}
	if len(mu.Shape) != 1 || len(sigma.Shape) != 2 || sigma.Shape[0] != mu.Shape[0] || sigma.Shape[1] != mu.Shape[0] {
		return nil, fmt.Errorf("%s: mu has shape %v and sigma %v, want (D,) and (D, D)", path, mu.Shape, sigma.Shape)
	}
	s := &Stats{Dim: mu.Shape[0], Mu: mu.Data, Sigma: sigma.Data}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func (s *Stats) validate() error {
	if s.Dim <= 0 || len(s.Mu) != s.Dim || len(s.Sigma) != s.Dim*s.Dim {
		return fmt.Errorf("FID statistics: dim %d with %d mean and %d covariance values", s.Dim, len(s.Mu), len(s.Sigma))
	}
	return nil
}
