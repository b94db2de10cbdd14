package train

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/internal/tensorconv"
	"github.com/sprint-distill/sprint/internal/testbackend"
)

// testBackend is the shared test backend (internal/testbackend).
func testBackend(t testing.TB) compute.Backend { return testbackend.Get(t) }

// param is a float64 host tensor with its dimensions.
type param struct {
	dims []int
	data []float64
}

func (p param) tensor() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(p.data, p.dims...) }

// flat64 returns a host tensor's values (any float or integer dtype) as float64s.
func flat64(t *tensors.Tensor) []float64 {
	v, err := tensorconv.Float64s(t)
	if err != nil {
		panic(err)
	}
	return v
}

// f32 rounds a learning rate as the Stepper feeds it to graphs (a float32 scalar).
func f32(x float64) float64 { return float64(float32(x)) }

// applyOptimizer runs opt.Update once on host tensors.
func applyOptimizer(t *testing.T, opt Optimizer, params, grads, state Group, lr float64) (Group, Group) {
	t.Helper()
	pn, sn := params.Names(), state.Names()
	exec, err := graph.NewExec(testBackend(t), func(g *graph.Graph, in []*graph.Node) []*graph.Node {
		p, gr, st := map[string]*graph.Node{}, map[string]*graph.Node{}, map[string]*graph.Node{}
		i := 0
		for _, n := range pn {
			p[n] = in[i]
			i++
		}
		for _, n := range pn {
			gr[n] = in[i]
			i++
		}
		for _, n := range sn {
			st[n] = in[i]
			i++
		}
		np, ns := opt.Update(g, p, gr, st, in[i], in[i+1])
		var out []*graph.Node
		for _, n := range pn {
			out = append(out, np[n])
		}
		for _, n := range sn {
			out = append(out, ns[n])
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	var args []any
	for _, n := range pn {
		args = append(args, params[n])
	}
	for _, n := range pn {
		args = append(args, grads[n])
	}
	for _, n := range sn {
		args = append(args, state[n])
	}
	args = append(args, tensors.FromScalar(float32(lr)), tensors.FromScalar(int64(0)))
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	np, ns := Group{}, Group{}
	for i, n := range pn {
		np[n] = outs[i]
	}
	for i, n := range sn {
		ns[n] = outs[len(pn)+i]
	}
	return np, ns
}

func assertClose(t *testing.T, what string, got, want []float64, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > rtol*math.Max(1e-12, math.Abs(want[i])) && d > 1e-300 {
			t.Fatalf("%s[%d] = %.17g, want %.17g (diff %g)", what, i, got[i], want[i], d)
		}
	}
}

// TestAdamWFirstStepClosedForm: after one step m̂ = g and v̂ = g², so the step is
// p·(1 − lr·wd) − lr·g/(|g| + ε).
func TestAdamWFirstStepClosedForm(t *testing.T) {
	opt := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	p := param{[]int{3}, []float64{1, -2, 0.5}}
	g := param{[]int{3}, []float64{0.1, -4, 0}}
	lr := 0.01
	params := Group{"w": p.tensor()}
	np, ns := applyOptimizer(t, opt, params, Group{"w": g.tensor()}, opt.InitState(params), lr)
	want := make([]float64, 3)
	for i := range want {
		want[i] = p.data[i]*(1-f32(lr)*0.01) - f32(lr)*g.data[i]/(math.Abs(g.data[i])+1e-8)
	}
	assertClose(t, "w", flat64(np["w"]), want, 1e-12)
	assertClose(t, "count", flat64(ns["count"]), []float64{1}, 0)
	assertClose(t, "exp_avg", flat64(ns["exp_avg/w"]), []float64{0.01, -0.4, 0}, 1e-12)
	assertClose(t, "exp_avg_sq", flat64(ns["exp_avg_sq/w"]), []float64{1e-5, 0.016, 0}, 1e-12)
}

// refAdamW is a float64 transcription of torch.optim.AdamW for one tensor.
type refAdamW struct {
	b1, b2, eps, wd float64
	m, v            []float64
	t               int
}

func (r *refAdamW) step(p, g []float64, lr float64) {
	if r.m == nil {
		r.m, r.v = make([]float64, len(p)), make([]float64, len(p))
	}
	r.t++
	bc1 := 1 - math.Pow(r.b1, float64(r.t))
	bc2 := 1 - math.Pow(r.b2, float64(r.t))
	for i := range p {
		p[i] *= 1 - lr*r.wd
		r.m[i] = r.b1*r.m[i] + (1-r.b1)*g[i]
		r.v[i] = r.b2*r.v[i] + (1-r.b2)*g[i]*g[i]
		p[i] -= lr / bc1 * r.m[i] / (math.Sqrt(r.v[i])/math.Sqrt(bc2) + r.eps)
	}
}

func TestAdamWMatchesReference(t *testing.T) {
	opt := &AdamW{Beta1: 0.8, Beta2: 0.95, Eps: 1e-6, WeightDecay: 0.1}
	p := param{[]int{2, 3}, []float64{0.3, -0.2, 1.5, 2, -1, 0.1}}
	grads := [][]float64{
		{0.5, -0.1, 0.2, 1, -2, 0.01},
		{-0.3, 0.4, 0.2, 0.1, 0.5, -0.01},
		{1, 1, -1, 0, 0.3, 0.2},
	}
	lrs := []float64{0.1, 0.05, 0.02}
	ref := &refAdamW{b1: 0.8, b2: 0.95, eps: 1e-6, wd: 0.1}
	want := append([]float64(nil), p.data...)
	params := Group{"w": p.tensor()}
	state := opt.InitState(params)
	for i, g := range grads {
		ref.step(want, g, f32(lrs[i]))
		params, state = applyOptimizer(t, opt, params, Group{"w": param{p.dims, g}.tensor()}, state, lrs[i])
	}
	assertClose(t, "w", flat64(params["w"]), want, 1e-12)
	assertClose(t, "exp_avg", flat64(state["exp_avg/w"]), ref.m, 1e-12)
	assertClose(t, "exp_avg_sq", flat64(state["exp_avg_sq/w"]), ref.v, 1e-12)
}

// TestCAMEFirstStepClosedForm: for a vector (full second moment) with no zero gradient,
// one step gives û = g/√((1−β2)(g²+ε1)), RMS-clipped to ≈ sign(g), m = (1−β1)·û, and the
// update is m itself.
func TestCAMEFirstStepClosedForm(t *testing.T) {
	opt := &CAME{Beta1: 0.9, Beta2: 0.999, Beta3: 0.9999, Eps1: 1e-30, Eps2: 1e-16, ClipThreshold: 1}
	p := param{[]int{4}, []float64{1, 2, 3, 4}}
	g := param{[]int{4}, []float64{0.5, -0.25, 2, -8}}
	lr := 0.1
	params := Group{"b": p.tensor()}
	np, ns := applyOptimizer(t, opt, params, Group{"b": g.tensor()}, opt.InitState(params), lr)
	// û_i = sign(g_i)/√(1−β2) exactly (ε1 is negligible), RMS(û) = 1/√(1−β2) > 1, so û = sign(g).
	want := make([]float64, 4)
	for i := range want {
		want[i] = p.data[i] - f32(lr)*0.1*math.Copysign(1, g.data[i])
	}
	assertClose(t, "b", flat64(np["b"]), want, 1e-12)
	if _, ok := ns["exp_avg_sq/b"]; !ok {
		t.Fatalf("a vector must keep the full second moment; state names %v", ns.Names())
	}
}

// refCAME is a float64 transcription of Sana's CAMEWrapper.step for one tensor viewed as a
// rows×cols matrix (factored) or a flat vector (full).
type refCAME struct {
	b1, b2, b3, eps1, eps2, clip, wd float64
	rows, cols                       int
	factored                         bool
	m, v, r, c, rr, rc               []float64
}

func emaInto(dst, x []float64, beta float64) {
	for i := range dst {
		dst[i] = beta*dst[i] + (1-beta)*x[i]
	}
}

// factoredScale folds the row and column means of x (rows×cols) into the averages r and c and
// returns approx(r, c).
func factoredScale(r, c, x []float64, beta float64) []float64 {
	rows, cols := len(r), len(c)
	rowMeans, colMeans := make([]float64, rows), make([]float64, cols)
	for i := range rows {
		for j := range cols {
			rowMeans[i] += x[i*cols+j] / float64(cols)
			colMeans[j] += x[i*cols+j] / float64(rows)
		}
	}
	emaInto(r, rowMeans, beta)
	emaInto(c, colMeans, beta)
	return approx(r, c)
}

func approx(r, c []float64) []float64 {
	mean := 0.0
	for _, v := range r {
		mean += v / float64(len(r))
	}
	out := make([]float64, len(r)*len(c))
	for i := range r {
		for j := range c {
			out[i*len(c)+j] = 1 / math.Sqrt(r[i]/mean) / math.Sqrt(c[j])
		}
	}
	return out
}

func (s *refCAME) step(p, g []float64, lr float64) {
	n := len(p)
	if s.m == nil {
		s.m = make([]float64, n)
		if s.factored {
			s.r, s.c = make([]float64, s.rows), make([]float64, s.cols)
			s.rr, s.rc = make([]float64, s.rows), make([]float64, s.cols)
		} else {
			s.v = make([]float64, n)
		}
	}
	sq := make([]float64, n)
	for i := range sq {
		sq[i] = g[i]*g[i] + s.eps1
	}
	u := make([]float64, n)
	if s.factored {
		a := factoredScale(s.r, s.c, sq, s.b2)
		for i := range u {
			u[i] = a[i] * g[i]
		}
	} else {
		emaInto(s.v, sq, s.b2)
		for i := range u {
			u[i] = g[i] / math.Sqrt(s.v[i])
		}
	}
	rms := 0.0
	for _, x := range u {
		rms += x * x
	}
	rms = math.Sqrt(rms / float64(n))
	div := math.Max(rms/s.clip, 1)
	for i := range u {
		u[i] /= div
	}
	emaInto(s.m, u, s.b1)
	upd := append([]float64(nil), s.m...)
	if s.factored {
		res := make([]float64, n)
		for i := range res {
			d := u[i] - s.m[i]
			res[i] = d*d + s.eps2
		}
		a := factoredScale(s.rr, s.rc, res, s.b3)
		for i := range upd {
			upd[i] = a[i] * s.m[i]
		}
	}
	for i := range p {
		p[i] -= s.wd * lr * p[i]
		p[i] -= lr * upd[i]
	}
}

func TestCAMEMatchesReference(t *testing.T) {
	cases := []struct {
		name       string
		dims       []int
		rows, cols int
		factored   bool
	}{
		{"linear", []int{3, 4}, 3, 4, true},
		{"conv1x1_oihw", []int{2, 3, 1, 1}, 2, 3, true},
		{"conv1x1_hwio", []int{1, 1, 3, 2}, 3, 2, true},
		{"conv3x3", []int{2, 1, 3, 3}, 0, 0, false},
		{"bias", []int{5}, 0, 0, false},
		{"rank3", []int{2, 2, 2}, 0, 0, false},
	}
	opt := &CAME{Beta1: 0.9, Beta2: 0.99, Beta3: 0.999, Eps1: 1e-30, Eps2: 1e-16, ClipThreshold: 1, WeightDecay: 0.05}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 1
			for _, d := range tc.dims {
				n *= d
			}
			p := make([]float64, n)
			for i := range p {
				p[i] = math.Sin(float64(i) + 1)
			}
			ref := &refCAME{b1: 0.9, b2: 0.99, b3: 0.999, eps1: 1e-30, eps2: 1e-16, clip: 1, wd: 0.05,
				rows: tc.rows, cols: tc.cols, factored: tc.factored}
			want := append([]float64(nil), p...)
			params := Group{"w": param{tc.dims, p}.tensor()}
			state := opt.InitState(params)
			_, hasFull := state["exp_avg_sq/w"]
			if hasFull == tc.factored {
				t.Fatalf("factored=%v but state names are %v", tc.factored, state.Names())
			}
			for step := range 4 {
				g := make([]float64, n)
				for i := range g {
					// Gradients of varied magnitudes, so the RMS clip is active on some steps only.
					g[i] = math.Cos(float64(3*i+step)) * math.Pow(10, float64(i%3-1))
				}
				lr := 0.01 * float64(step+1)
				ref.step(want, g, f32(lr))
				params, state = applyOptimizer(t, opt, params, Group{"w": param{tc.dims, g}.tensor()}, state, lr)
			}
			assertClose(t, "w", flat64(params["w"]), want, 1e-10)
			assertClose(t, "exp_avg", flat64(state["exp_avg/w"]), ref.m, 1e-10)
			if tc.factored {
				assertClose(t, "exp_avg_sq_row", flat64(state["exp_avg_sq_row/w"]), ref.r, 1e-10)
				assertClose(t, "exp_avg_res_col", flat64(state["exp_avg_res_col/w"]), ref.rc, 1e-10)
			} else {
				assertClose(t, "exp_avg_sq", flat64(state["exp_avg_sq/w"]), ref.v, 1e-10)
			}
			assertClose(t, "count", flat64(state["count"]), []float64{4}, 0)
		})
	}
}

// TestCAMEFactoredByHand checks one factored step on a 2×2 matrix worked out by hand.
func TestCAMEFactoredByHand(t *testing.T) {
	opt := &CAME{Beta1: 0.5, Beta2: 0.5, Beta3: 0.5, Eps1: 1e-30, Eps2: 1e-16, ClipThreshold: 100}
	// g = [[1, 2], [3, 4]]: g² row means (1+4)/2 = 2.5, (9+16)/2 = 12.5; col means 5, 10.
	// R = 0.5·[2.5, 12.5] = [1.25, 6.25], C = [2.5, 5], mean(R) = 3.75.
	// û_ij = g_ij / √(R_i·C_j/mean(R)):
	//   û_00 = 1/√(1.25·2.5/3.75) = 1/√(5/6), û_01 = 2/√(1.25·5/3.75) = 2/√(5/3),
	//   û_10 = 3/√(6.25·2.5/3.75) = 3/√(25/6), û_11 = 4/√(6.25·5/3.75) = 4/√(25/3).
	// The clip threshold (100) is not reached; m = 0.5·û; r = (û − m)² = (0.5·û)² = m².
	u := []float64{1 / math.Sqrt(5.0/6), 2 / math.Sqrt(5.0/3), 3 / math.Sqrt(25.0/6), 4 / math.Sqrt(25.0/3)}
	m := make([]float64, 4)
	r := make([]float64, 4)
	for i := range u {
		m[i] = 0.5 * u[i]
		r[i] = m[i] * m[i]
	}
	rr := []float64{0.5 * (r[0] + r[1]) / 2, 0.5 * (r[2] + r[3]) / 2}
	rc := []float64{0.5 * (r[0] + r[2]) / 2, 0.5 * (r[1] + r[3]) / 2}
	meanRR := (rr[0] + rr[1]) / 2
	lr := 0.1
	want := make([]float64, 4)
	for i := range 2 {
		for j := range 2 {
			k := 2*i + j
			want[k] = 1 - f32(lr)*m[k]/math.Sqrt(rr[i]*rc[j]/meanRR)
		}
	}
	params := Group{"w": param{[]int{2, 2}, []float64{1, 1, 1, 1}}.tensor()}
	np, ns := applyOptimizer(t, opt, params, Group{"w": param{[]int{2, 2}, []float64{1, 2, 3, 4}}.tensor()}, opt.InitState(params), lr)
	assertClose(t, "exp_avg_sq_row", flat64(ns["exp_avg_sq_row/w"]), []float64{1.25, 6.25}, 1e-12)
	assertClose(t, "exp_avg_sq_col", flat64(ns["exp_avg_sq_col/w"]), []float64{2.5, 5}, 1e-12)
	assertClose(t, "exp_avg", flat64(ns["exp_avg/w"]), m, 1e-12)
	assertClose(t, "w", flat64(np["w"]), want, 1e-12)
}

func TestOptimizerHalfPrecisionUsesFloat32State(t *testing.T) {
	p := tensors.FromShape(tensorsShape(dtypes.BFloat16, 2, 2))
	for _, opt := range []Optimizer{&AdamW{0.9, 0.999, 1e-8, 0}, &CAME{0.9, 0.999, 0.9999, 1e-30, 1e-16, 1, 0}} {
		st := opt.InitState(Group{"w": p})
		for n, s := range st {
			if n != countName && s.DType() != dtypes.Float32 {
				t.Fatalf("%s state %q has dtype %s, want float32", opt.Name(), n, s.DType())
			}
		}
	}
}

func TestClipByGlobalNorm(t *testing.T) {
	// ‖(3, 4, 12)‖ = 13.
	cases := []struct {
		maxNorm float64
		scale   float64
	}{
		{0, 1},                   // disabled
		{100, 1},                 // below the bound: unchanged
		{1.3, 1.3 / (13 + 1e-6)}, // clipped
	}
	for _, tc := range cases {
		exec, err := graph.NewExec(testBackend(t), func(a, b *graph.Node) []*graph.Node {
			clipped, norm := ClipByGlobalNorm(map[string]*graph.Node{"a": a, "b": b}, tc.maxNorm)
			return []*graph.Node{clipped["a"], clipped["b"], norm}
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec([]float64{3, 4}, []float64{12})
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "norm", flat64(outs[2]), []float64{13}, 1e-15)
		assertClose(t, "a", flat64(outs[0]), []float64{3 * tc.scale, 4 * tc.scale}, 1e-15)
		assertClose(t, "b", flat64(outs[1]), []float64{12 * tc.scale}, 1e-15)
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		name  string
		sched Schedule
		step  int64
		want  float64
	}{
		{"constant warmup start", ConstantWithWarmup(1e-4, 100), 0, 0},
		{"constant warmup middle", ConstantWithWarmup(1e-4, 100), 25, 0.25e-4},
		{"constant after warmup", ConstantWithWarmup(1e-4, 100), 100, 1e-4},
		{"constant long after", ConstantWithWarmup(1e-4, 100), 100000, 1e-4},
		{"constant no warmup", ConstantWithWarmup(2e-6, 0), 0, 2e-6},
		{"cosine warmup", CosineWithWarmup(1.0, 10, 110), 5, 0.5},
		{"cosine peak", CosineWithWarmup(1.0, 10, 110), 10, 1},
		{"cosine quarter", CosineWithWarmup(1.0, 10, 110), 35, 0.5 * (1 + math.Cos(math.Pi/4))},
		{"cosine half", CosineWithWarmup(1.0, 10, 110), 60, 0.5},
		{"cosine end", CosineWithWarmup(1.0, 10, 110), 110, 0},
		{"cosine past end", CosineWithWarmup(1.0, 10, 110), 200, 0},
	}
	for _, tc := range cases {
		if got := tc.sched(tc.step); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("%s: lr(%d) = %g, want %g", tc.name, tc.step, got, tc.want)
		}
	}
	// auto_lr sqrt: B = 16×32 = 512 → 2e-6·√2 (reference notes §3.5: 2.83e-6).
	c := DefaultConfig()
	c.BatchSize = 512
	if lr, scaled := c.BaseLR(); !scaled || math.Abs(lr-2e-6*math.Sqrt2) > 1e-18 {
		t.Errorf("BaseLR = %g, %v; want %g, true", lr, scaled, 2e-6*math.Sqrt2)
	}
	c.AutoLR = "none"
	if lr, scaled := c.BaseLR(); scaled || lr != 2e-6 {
		t.Errorf("BaseLR without auto_lr = %g, %v", lr, scaled)
	}
}

func TestScheduledSteps(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		max    int64
		g, d   int
		stepOn string
		want   int64
	}{
		{10, 1, 1, "g", 5}, {11, 1, 1, "g", 6}, {10, 2, 1, "g", 7}, {10, 1, 0, "g", 10}, {10, 1, 1, "all", 10},
	} {
		c.MaxSteps, c.PhaseRatio, c.LRSchedule.StepOn = tc.max, PhaseRatio{tc.g, tc.d}, tc.stepOn
		if got := c.ScheduledSteps(); got != tc.want {
			t.Errorf("max %d ratio %d:%d step_on %s: %d scheduled steps, want %d", tc.max, tc.g, tc.d, tc.stepOn, got, tc.want)
		}
		// G steps do not depend on step_on: 10 global steps at 1:1 are 5 G steps either way.
		wantG := tc.want
		if tc.stepOn == "all" {
			wantG = 5
		}
		if got := c.GSteps(); got != wantG {
			t.Errorf("max %d ratio %d:%d: %d G steps, want %d", tc.max, tc.g, tc.d, got, wantG)
		}
	}
}

// TestNewPhasesScheduleLength: a cosine schedule spans the run's generator steps, all of them
// when the run has no discriminator phase, every other one with a 1:1 D phase.
func TestNewPhasesScheduleLength(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSteps = 100
	cfg.AutoLR = "none"
	cfg.Optimizer.Type = "adamw"
	cfg.Optimizer.LR = 1
	cfg.Optimizer.Betas = []float64{0.9, 0.999}
	cfg.Optimizer.Eps = []float64{1e-8}
	cfg.LRSchedule.Type = "cosine"
	cfg.LRSchedule.WarmupSteps = 0
	loss := func(g *graph.Graph, in StepInputs) StepOutputs { return StepOutputs{} }
	b := testBackend(t)
	only, err := NewPhases(b, cfg, PhaseSpec{Name: "teacher", Loss: loss, Trainable: "w", Repeat: 1, Generator: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := only[0].LR(50); math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("single phase: lr(50) = %v, want 0.5 (cosine over 100 steps)", got)
	}
	gd, err := NewPhases(b, cfg,
		PhaseSpec{Name: "g", Loss: loss, Trainable: "w", Repeat: 1, Generator: true},
		PhaseSpec{Name: "d", Loss: loss, Trainable: "h", Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := gd[0].LR(25); math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("G:D 1:1: lr(25) = %v, want 0.5 (cosine over 50 G steps)", got)
	}
	if got := gd[1].LR(25); got != 1 {
		t.Fatalf("D phase lr = %v, want the base lr 1", got)
	}
	// d_lr_scale multiplies the D phase's lr only; with step_on all D follows the schedule too.
	cfg.DLRScale = 4
	scaled, err := NewPhases(b, cfg,
		PhaseSpec{Name: "g", Loss: loss, Trainable: "w", Repeat: 1, Generator: true},
		PhaseSpec{Name: "d", Loss: loss, Trainable: "h", Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g, d := scaled[0].LR(25), scaled[1].LR(25); math.Abs(g-0.5) > 1e-12 || d != 4 {
		t.Fatalf("d_lr_scale 4: lr(25) G %v, D %v; want 0.5 and 4", g, d)
	}
	cfg.LRSchedule.StepOn = "all"
	all, err := NewPhases(b, cfg,
		PhaseSpec{Name: "g", Loss: loss, Trainable: "w", Repeat: 1, Generator: true},
		PhaseSpec{Name: "d", Loss: loss, Trainable: "h", Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g, d := all[0].LR(50), all[1].LR(50); math.Abs(g-0.5) > 1e-12 || math.Abs(d-2) > 1e-12 {
		t.Fatalf("d_lr_scale 4, step_on all: lr(50) G %v, D %v; want 0.5 and 2", g, d)
	}
	cfg.DLRScale = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "d_lr_scale") {
		t.Fatalf("d_lr_scale 0 accepted: %v", err)
	}
}

func TestEMA(t *testing.T) {
	e, err := NewEMA(testBackend(t), 0.9)
	if err != nil {
		t.Fatal(err)
	}
	avg, err := e.Init(Group{"w": tensors.FromValue([]float32{1, 2})})
	if err != nil {
		t.Fatal(err)
	}
	// ema = 0.9·[1, 2] + 0.1·[11, 12] = [2, 3]; then 0.9·[2, 3] + 0.1·[2, 3] = [2, 3].
	avg, err = e.Update(avg, Group{"w": tensors.FromValue([]float32{11, 12})})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "ema", flat64(avg["w"]), []float64{2, 3}, 1e-6)
	avg, err = e.Update(avg, Group{"w": tensors.FromValue([]float32{2, 3})})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "ema", flat64(avg["w"]), []float64{2, 3}, 1e-6)
	if _, err := e.Update(avg, Group{"v": tensors.FromValue([]float32{1, 2})}); err == nil {
		t.Fatal("an EMA over different names must fail")
	}
	if _, err := NewEMA(testBackend(t), 1); err == nil {
		t.Fatal("decay 1 must be rejected")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if err := DefaultLogConfig().Validate(); err != nil {
		t.Fatalf("default log config: %v", err)
	}
	c := DefaultConfig()
	c.Optimizer.Type = "adamw"
	c.MaxSteps = 0
	c.LRSchedule.Type = "linear"
	err := c.Validate()
	if err == nil {
		t.Fatal("expected errors")
	}
	for _, key := range []string{"train.max_steps", "train.optimizer.betas", "train.optimizer.eps", "train.lr_schedule.type"} {
		if !containsStr(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
	lc := DefaultLogConfig()
	lc.WandB.Enabled, lc.WandB.Mode = true, "sometimes"
	if err := lc.Validate(); err == nil || !containsStr(err.Error(), "log.wandb.mode") {
		t.Errorf("log validation: %v", err)
	}
	if _, err := NewOptimizer(c.Optimizer); err == nil {
		t.Error("NewOptimizer must reject an invalid config")
	}
	for _, typ := range []string{"came", "adamw"} {
		oc := DefaultConfig().Optimizer
		if typ == "adamw" {
			oc = OptimizerConfig{Type: "adamw", LR: 1e-6, Betas: []float64{0.9, 0.999}, Eps: []float64{1e-8}, WeightDecay: 1e-4}
		}
		o, err := NewOptimizer(oc)
		if err != nil || o.Name() != typ {
			t.Errorf("NewOptimizer(%s) = %v, %v", typ, o, err)
		}
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

func tensorsShape(dt dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dt, dims...) }

// TestStepperBFloat16Params: half-precision weights are updated through float32 arithmetic
// and keep their dtype; the optimizer state is float32.
func TestStepperBFloat16Params(t *testing.T) {
	for _, opt := range []Optimizer{&AdamW{0.9, 0.999, 1e-8, 0}, &CAME{0.9, 0.999, 0.9999, 1e-30, 1e-16, 1, 0}} {
		st := NewStepper(testBackend(t), "bf16", func(g *graph.Graph, in StepInputs) StepOutputs {
			w := graph.ConvertDType(in.Trainable["w"], dtypes.Float32)
			return StepOutputs{Loss: graph.ReduceAllSum(graph.Mul(w, in.Batch["x"]))}
		}, opt, 1)
		w := Group{"w": tensors.FromShape(shapes.Make(dtypes.BFloat16, 2, 3))}
		res, err := st.Step(w, nil, nil, opt.InitState(w), map[string]*tensors.Tensor{"x": tensors.FromValue([][]float32{{1, -1, 1}, {-1, 1, -1}})},
			StepRNG(0, 0, 0, 0), 0.5, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Trainable["w"].DType() != dtypes.BFloat16 || res.OptState["exp_avg/w"].DType() != dtypes.Float32 {
			t.Fatalf("%s: dtypes %s, %s", opt.Name(), res.Trainable["w"].DType(), res.OptState["exp_avg/w"].DType())
		}
		// Clipped to norm 1 and normalised by the optimizer: every weight moves against its gradient.
		got := flat64(res.Trainable["w"])
		for i, x := range []float64{1, -1, 1, -1, 1, -1} {
			if got[i]*x >= 0 {
				t.Fatalf("%s: w[%d] = %g did not move against the gradient %g", opt.Name(), i, got[i], x)
			}
		}
	}
}
