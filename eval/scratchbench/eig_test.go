package scratchbench

import (
	"math/rand"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

func TestEig(t *testing.T) {
	n := 2048
	r := rand.New(rand.NewSource(1))
	a := mat.NewDense(n, 3000, nil)
	for i := 0; i < n; i++ { for j := 0; j < 3000; j++ { a.Set(i, j, r.NormFloat64()) } }
	s := mat.NewSymDense(n, nil)
	st := time.Now()
	s.SymOuterK(1, a)
	t.Logf("syrk %v", time.Since(st))
	d := mat.DenseCopyOf(s)
	st = time.Now()
	var m mat.Dense
	m.Mul(d, d)
	t.Logf("mul dense %v", time.Since(st))
	st = time.Now()
	var ch mat.Cholesky
	ok := ch.Factorize(s)
	t.Logf("chol %v %v", time.Since(st), ok)
	st = time.Now()
	var e mat.EigenSym
	ok = e.Factorize(s, false)
	t.Logf("eig novec %v %v", time.Since(st), ok)
}
