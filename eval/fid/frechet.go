package fid

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// fallbackEpsilon is pytorch-fid's diagonal offset when the matrix square root is not finite.
const fallbackEpsilon = 1e-6

// FrechetDistance is FID = ‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2·tr √(Σ1Σ2) (reference notes §1.3).
//
// The trace of the square root is the sum of the square roots of the eigenvalues of Σ1Σ2, which equal
// those of the symmetric matrix LᵀΣ2L for Σ1 = LLᵀ (Cholesky), or of SΣ2S with S = Σ1^{1/2} from a
// symmetric eigendecomposition when Σ1 is singular. Only eigenvalues are needed from the symmetric
// matrix, so no complex Schur form arises. When the result is not finite the computation is repeated
// with 1e-6 added to both diagonals, as pytorch-fid does.
func FrechetDistance(a, b *Stats) (float64, error) {
	if err := a.validate(); err != nil {
		return 0, err
	}
	if err := b.validate(); err != nil {
		return 0, err
	}
	if a.Dim != b.Dim {
		return 0, fmt.Errorf("FID of statistics with different dimensions (%d and %d)", a.Dim, b.Dim)
	}
	for _, s := range [][]float64{a.Mu, a.Sigma, b.Mu, b.Sigma} {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, errors.New("FID statistics contain non-finite values")
			}
		}
	}
	d := a.Dim
	var diff2, tr1, tr2 float64
	for i := 0; i < d; i++ {
		x := a.Mu[i] - b.Mu[i]
		diff2 += x * x
		tr1 += a.Sigma[i*d+i]
		tr2 += b.Sigma[i*d+i]
	}
	var trSqrt float64
	var err error
	switch {
	case a.factor != nil:
		trSqrt, err = traceSqrtLowRank(a.factor, b.Sigma, d)
	case b.factor != nil:
		trSqrt, err = traceSqrtLowRank(b.factor, a.Sigma, d)
	default:
		trSqrt, err = traceSqrtProduct(a.Sigma, b.Sigma, d, 0)
	}
	if err != nil || math.IsNaN(trSqrt) || math.IsInf(trSqrt, 0) {
		trSqrt, err = traceSqrtProduct(a.Sigma, b.Sigma, d, fallbackEpsilon)
		if err != nil {
			return 0, fmt.Errorf("FID: %w", err)
		}
		if math.IsNaN(trSqrt) || math.IsInf(trSqrt, 0) {
			return 0, errors.New("FID: the trace of the matrix square root is not finite, even with the epsilon offset")
		}
	}
	return diff2 + tr1 + tr2 - 2*trSqrt, nil
}

// traceSqrtLowRank returns tr √(Σ1Σ2) for Σ1 = AAᵀ (A is D×N, N small): the non-zero eigenvalues
// of Σ1Σ2 are those of the N×N matrix AᵀΣ2A.
func traceSqrtLowRank(a *mat.Dense, sigma2 []float64, d int) (float64, error) {
	_, n := a.Dims()
	s2 := mat.NewDense(d, d, nil)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			s2.Set(i, j, (sigma2[i*d+j]+sigma2[j*d+i])/2)
		}
	}
	return traceSqrtSandwich(s2, a, n, "low-rank covariance product")
}

// traceSqrtSandwich returns tr √(Rᵀ S R) for S (d,d) and R (d,n): the product is made exactly
// symmetric and negative eigenvalues (rounding) count as zero; what names it in the error.
func traceSqrtSandwich(s *mat.Dense, r *mat.Dense, n int, what string) (float64, error) {
	var t, m mat.Dense
	t.Mul(s, r)
	m.Mul(r.T(), &t)
	sym := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, false) {
		return 0, errors.New("eigendecomposition of the " + what + " failed")
	}
	var tr float64
	for _, v := range eig.Values(nil) {
		tr += math.Sqrt(math.Max(v, 0))
	}
	return tr, nil
}

// symmetric returns (S+Sᵀ)/2 + eps·I.
func symmetric(s []float64, d int, eps float64) *mat.SymDense {
	out := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			v := (s[i*d+j] + s[j*d+i]) / 2
			if i == j {
				v += eps
			}
			out.SetSym(i, j, v)
		}
	}
	return out
}

// traceSqrtProduct returns tr √((Σ1+εI)(Σ2+εI)).
func traceSqrtProduct(sigma1, sigma2 []float64, d int, eps float64) (float64, error) {
	s1, s2 := symmetric(sigma1, d, eps), symmetric(sigma2, d, eps)
	var root *mat.Dense
	var chol mat.Cholesky
	// Cholesky is only used on well-conditioned matrices; near-singular ones (fewer samples than
	// dimensions) go through the eigendecomposition, which handles zero eigenvalues exactly.
	const maxCond = 1e12
	if chol.Factorize(s1) && chol.Cond() < maxCond {
		var l mat.TriDense
		chol.LTo(&l)
		root = mat.DenseCopyOf(&l)
	} else if chol.Factorize(s2) && chol.Cond() < maxCond {
		// The eigenvalues of Σ1Σ2 and Σ2Σ1 are the same.
		var l mat.TriDense
		chol.LTo(&l)
		root = mat.DenseCopyOf(&l)
		s2 = s1
	} else {
		// Singular: S = Q diag(√max(λ,0)) Qᵀ.
		var eig mat.EigenSym
		if !eig.Factorize(s1, true) {
			return 0, errors.New("eigendecomposition of the first covariance failed")
		}
		vals := eig.Values(nil)
		var q mat.Dense
		eig.VectorsTo(&q)
		scaled := mat.DenseCopyOf(&q)
		for j, v := range vals {
			r := math.Sqrt(math.Max(v, 0))
			for i := 0; i < d; i++ {
				scaled.Set(i, j, scaled.At(i, j)*r)
			}
		}
		root = &mat.Dense{}
		root.Mul(scaled, q.T())
	}
	// M = Rᵀ Σ2 R (symmetric, PSD), with R = L or S.
	return traceSqrtSandwich(mat.DenseCopyOf(s2), root, d, "covariance product")
}
