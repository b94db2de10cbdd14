package fid

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func statsOf(mu []float64, sigma *mat.Dense) *Stats {
	d := len(mu)
	s := &Stats{Dim: d, Mu: mu, Sigma: make([]float64, d*d)}
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			s.Sigma[i*d+j] = sigma.At(i, j)
		}
	}
	return s
}

func fidOf(t *testing.T, a, b *Stats) float64 {
	t.Helper()
	v, err := FrechetDistance(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.15g, want %.15g (±%g)", name, got, want, tol)
	}
}

func randomOrthogonal(d int, seed uint64) *mat.Dense {
	r := rand.New(rand.NewPCG(seed, 1))
	a := mat.NewDense(d, d, nil)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			a.Set(i, j, r.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

// qdq is Q diag(v) Qᵀ.
func qdq(q *mat.Dense, v []float64) *mat.Dense {
	d := len(v)
	var out mat.Dense
	out.Mul(q, mat.NewDiagDense(d, v))
	out.Mul(&out, q.T())
	return &out
}

func TestFrechetClosedForms(t *testing.T) {
	// Identical statistics give 0.
	q := randomOrthogonal(6, 1)
	sigma := qdq(q, []float64{1, 2, 3, 0.5, 4, 0.1})
	mu := []float64{1, -2, 3, 0, 0.5, 2}
	s := statsOf(mu, sigma)
	near(t, "identical", fidOf(t, s, s), 0, 1e-9*10.6)

	// Equal covariances give the squared mean difference (pytorch-fid's test: zeros vs ones, Σ = I).
	const d = 128
	eye := mat.NewDense(d, d, nil)
	zeros, ones := make([]float64, d), make([]float64, d)
	for i := 0; i < d; i++ {
		eye.Set(i, i, 1)
		ones[i] = 1
	}
	near(t, "zeros vs ones", fidOf(t, statsOf(zeros, eye), statsOf(ones, eye)), d, 1e-9)

	// 1-D: (μ1−μ2)² + (σ1−σ2)².
	a := &Stats{Dim: 1, Mu: []float64{0.5}, Sigma: []float64{4}}
	b := &Stats{Dim: 1, Mu: []float64{-1}, Sigma: []float64{9}}
	near(t, "1-D", fidOf(t, a, b), 1.5*1.5+1, 1e-12)

	// Commuting covariances (shared random eigenbasis): ‖Δμ‖² + Σ(√aᵢ−√bᵢ)² = 3 + 1 + 0 + 4 = 8.
	q3 := randomOrthogonal(3, 2)
	s1 := statsOf([]float64{0, 0, 0}, qdq(q3, []float64{1, 4, 9}))
	s2 := statsOf([]float64{1, 1, 1}, qdq(q3, []float64{4, 4, 1}))
	near(t, "commuting", fidOf(t, s1, s2), 8, 1e-9)

	// Scaling: Σ2 = c²Σ1 gives ‖Δμ‖² + (1−c)² tr Σ1.
	const c = 1.7
	scaled := mat.NewDense(6, 6, nil)
	scaled.Scale(c*c, sigma)
	mu2 := []float64{1, -2, 3, 1, 0.5, 2}
	near(t, "scaling", fidOf(t, s, statsOf(mu2, scaled)), 1+(1-c)*(1-c)*10.6, 1e-9)

	// Non-commuting 2x2: tr √M = √(tr M + 2√det M) with M = Σ1Σ2 = [[2,4],[1,8]].
	nc1 := &Stats{Dim: 2, Mu: []float64{0, 0}, Sigma: []float64{2, 1, 1, 2}}
	nc2 := &Stats{Dim: 2, Mu: []float64{1, 2}, Sigma: []float64{1, 0, 0, 4}}
	near(t, "non-commuting", fidOf(t, nc1, nc2), 5.771220447654342, 1e-12)
	near(t, "symmetry", fidOf(t, nc2, nc1), 5.771220447654342, 1e-12)
}

func TestStatsFromSamples(t *testing.T) {
	x, err := ComputeStats([][]float32{{1, 2}, {3, 4}, {5, 0}})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{4, -2, -2, 4}
	for i, w := range want {
		near(t, "Σx", x.Sigma[i], w, 1e-12)
	}
	near(t, "μx0", x.Mu[0], 3, 1e-12)
	near(t, "μx1", x.Mu[1], 2, 1e-12)
	y, err := ComputeStats([][]float32{{0, 0}, {2, 2}, {4, -2}, {2, 0}})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "Σy00", y.Sigma[0], 8.0/3, 1e-12)
	near(t, "Σy01", y.Sigma[1], -4.0/3, 1e-12)
	near(t, "FID(X,Y)", fidOf(t, x, y), 5.269388038489717, 1e-12)
	near(t, "FID(Y,X)", fidOf(t, y, x), 5.269388038489717, 1e-12)
	if _, err := ComputeStats([][]float32{{1, 2}}); err == nil {
		t.Fatal("one sample accepted")
	}
}

// features is a deterministic feature set (the same formula as the scipy golden script).
func features(n, d int, a, b float64) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		for j := range out[i] {
			out[i][j] = float32(math.Sin(float64(i)*a+float64(j)*0.7) + math.Cos(float64(i*j)*b) + 0.1*float64(j))
		}
	}
	return out
}

func TestFrechetAgainstScipy(t *testing.T) {
	// Golden from pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm) on the float64 features;
	// ours sees float32 features, hence the tolerance.
	x, _ := ComputeStats(features(40, 16, 1.3, 0.1))
	y, _ := ComputeStats(features(50, 16, 0.9, 0.13))
	near(t, "FID", fidOf(t, x, y), 1.8299405008332847, 1e-5)
}

func TestFrechetRankDeficient(t *testing.T) {
	// N = 10 < D = 64: both covariances are singular.
	x, _ := ComputeStats(features(10, 64, 1.3, 0.1))
	y, _ := ComputeStats(features(10, 64, 0.4, 0.7))
	v := fidOf(t, x, y)
	if math.IsNaN(v) || v < 0 {
		t.Fatalf("rank-deficient FID = %v", v)
	}
	// scipy.linalg.sqrtm gives 69.61312033068842 on the same float32 features (and −7.5e-6 for x vs x).
	near(t, "rank-deficient FID", v, 69.61312033068842, 1e-4)
	self := fidOf(t, x, x)
	if math.Abs(self) > 1e-6*72.4 {
		t.Fatalf("FID of a set against itself = %v", self)
	}
	t.Logf("rank-deficient FID %.12g, self %.3g", v, self)
	// Without the low-rank factor (statistics loaded from a file) the dense path gives the same value.
	xd := &Stats{Dim: x.Dim, Mu: x.Mu, Sigma: x.Sigma}
	yd := &Stats{Dim: y.Dim, Mu: y.Mu, Sigma: y.Sigma}
	near(t, "dense path", fidOf(t, xd, yd), v, 1e-4)
	near(t, "dense self", fidOf(t, xd, xd), 0, 1e-6*72.4)
	// The ε path on its own agrees with the exact one to O(√ε·D).
	tr0, _ := traceSqrtProduct(x.Sigma, y.Sigma, 64, 0)
	trEps, err := traceSqrtProduct(x.Sigma, y.Sigma, 64, fallbackEpsilon)
	if err != nil || math.Abs(tr0-trEps) > 1e-2 {
		t.Fatalf("ε path %v vs %v (%v)", trEps, tr0, err)
	}
}

func TestFrechetRejectsBadInput(t *testing.T) {
	a := &Stats{Dim: 2, Mu: []float64{0, 0}, Sigma: []float64{1, 0, 0, 1}}
	b := &Stats{Dim: 1, Mu: []float64{0}, Sigma: []float64{1}}
	if _, err := FrechetDistance(a, b); err == nil {
		t.Fatal("dimension mismatch accepted")
	}
	c := &Stats{Dim: 2, Mu: []float64{math.NaN(), 0}, Sigma: []float64{1, 0, 0, 1}}
	if _, err := FrechetDistance(a, c); err == nil {
		t.Fatal("NaN accepted")
	}
}

func TestAccumulatorMatchesTwoPass(t *testing.T) {
	// More rows than one block, far from the origin: the shifted sums must stay accurate.
	r := rand.New(rand.NewPCG(5, 5))
	const n, d = 600, 5
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, d)
		for j := range rows[i] {
			rows[i][j] = float32(1000 + float64(j) + r.NormFloat64()*(1+float64(j)))
		}
	}
	got, err := ComputeStats(rows)
	if err != nil {
		t.Fatal(err)
	}
	mean := make([]float64, d)
	for _, row := range rows {
		for j, v := range row {
			mean[j] += float64(v) / n
		}
	}
	for i := 0; i < d; i++ {
		near(t, "mean", got.Mu[i], mean[i], 1e-9)
		for j := 0; j < d; j++ {
			var c float64
			for _, row := range rows {
				c += (float64(row[i]) - mean[i]) * (float64(row[j]) - mean[j])
			}
			near(t, "cov", got.Sigma[i*d+j], c/(n-1), 1e-9)
		}
	}
	if got.N != n {
		t.Fatalf("N = %d", got.N)
	}
}

func TestStatsNPZRoundTrip(t *testing.T) {
	s, _ := ComputeStats(features(20, 8, 1.1, 0.2))
	path := filepath.Join(t.TempDir(), "stats.npz")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadStats(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Dim != 8 {
		t.Fatalf("dim %d", got.Dim)
	}
	for i := range s.Sigma {
		if got.Sigma[i] != s.Sigma[i] {
			t.Fatal("sigma changed in the round trip")
		}
	}
	for i := range s.Mu {
		if got.Mu[i] != s.Mu[i] {
			t.Fatal("mu changed in the round trip")
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.npz")
	os.WriteFile(bad, []byte("PK nope"), 0o644)
	if _, err := LoadStats(bad); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestLoadNumpyWrittenStats(t *testing.T) {
	// testdata/numpy_savez_stats.npz was written by numpy 1.24's np.savez(mu=..., sigma=...) from the
	// statistics of {(1,2,3), (3,4,5), (5,0,1)}.
	s, err := LoadStats(filepath.Join("testdata", "numpy_savez_stats.npz"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ComputeStats([][]float32{{1, 2, 3}, {3, 4, 5}, {5, 0, 1}})
	for i := range want.Sigma {
		near(t, "sigma", s.Sigma[i], want.Sigma[i], 1e-12)
	}
	for i := range want.Mu {
		near(t, "mu", s.Mu[i], want.Mu[i], 1e-12)
	}
}
