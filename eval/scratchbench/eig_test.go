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
	a := mat.NewDense(n, 300, nil)
	for i := 0; i < n; i++ { for j := 0; j < 300; j++ { a.Set(i, j, r.NormFloat64()) } }
	s := mat.NewSymDense(n, nil)
	st := time.Now()
	s.SymOuterK(1, a)
	t.Logf("syrk %v", time.Since(st))
	st = time.Now()
	var e mat.EigenSym
	ok := e.Factorize(s, true)
	t.Logf("eig %v %v", time.Since(st), ok)
	st = time.Now()
	var m mat.Dense
	m.Mul(s, s)
	t.Logf("mul %v", time.Since(st))
}
