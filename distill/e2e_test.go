package distill

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/train"
)

// The end-to-end check distils an exact teacher: the TrigFlow velocity of a class-conditional
// Gaussian mixture in 2-D (latents (B, 2, 1, 1)), written in closed form, into a small MLP
// student, with the package's own generator and discriminator losses, train.Stepper and AdamW.
// Captions are one-hot classes (B, 1, 2); the null caption is zero and selects the
// unconditional mixture.

const (
	gmmStd   = 0.15 // component std in latent units
	mlpWidth = 64
)

// gmmMeans are the component means in latent units; class c owns components 2c and 2c+1.
var gmmMeans = [4][2]float64{{-1, 1}, {1, 1}, {-1, -1}, {1, -1}}

// gmmTeacher is the exact TrigFlow F(x̂, θ) of the mixture selected by the caption, and fixed
// random features of (x̂, θ, caption) standing in for the teacher's block outputs (B, 1, 8).
func gmmTeacher(sigmaData float64) func(w map[string]*Node, xhat, theta, text, mask *Node, blocks []int) (*Node, []*Node) {
	return func(_ map[string]*Node, xhat, theta, text, _ *Node, blocks []int) (*Node, []*Node) {
		g := xhat.Graph()
		dt := xhat.DType()
		b := xhat.Shape().Dimensions[0]
		x := MulScalar(Reshape(xhat, b, 2), sigmaData) // x_θ in x units (B, 2)
		cos, sin := ExpandAxes(Cos(theta), -1), ExpandAxes(Sin(theta), -1)
		// Prior over components: the caption's class, or uniform for the null caption.
		cls := Reshape(text, b, 2)
		owner := ConstAsDType(g, dt, [][]float64{{1, 1, 0, 0}, {0, 0, 1, 1}})
		prior := Add(MatMul(cls, owner), MulScalar(ExpandAxes(OneMinus(ReduceSum(cls, 1)), -1), 1.0/2))
		mu := MulScalar(ConstAsDType(g, dt, gmmMeans[:]), sigmaData) // (4, 2) in x units
		s2 := sigmaData * sigmaData * gmmStd * gmmStd
		variance := Add(MulScalar(Square(cos), s2), MulScalar(Square(sin), sigmaData*sigmaData)) // (B, 1)
		diff := Sub(ExpandAxes(x, 1), Mul(ExpandAxes(cos, -1), ExpandAxes(mu, 0)))               // (B, 4, 2)
		logp := Add(Log(MaxScalar(prior, 1e-30)), Div(MulScalar(ReduceSum(Square(diff), 2), -0.5), variance))
		post := Softmax(logp, 1)                                         // (B, 4)
		gain := Div(MulScalar(cos, s2), variance)                        // (B, 1)
		means := Add(ExpandAxes(mu, 0), Mul(ExpandAxes(gain, -1), diff)) // E[x0 | x, k] (B, 4, 2)
		denoised := ReduceSum(Mul(ExpandAxes(post, -1), means), 1)       // (B, 2)
		f := Div(Sub(Mul(cos, x), denoised), MulScalar(sin, sigmaData))  // (cosθ·x − D)/(σd·sinθ)
		var feats []*Node
		in := Concatenate([]*Node{Reshape(xhat, b, 2), cos, sin, cls}, 1) // (B, 6)
		for i := range blocks {
			w := Const(g, fixedMatrix(dt, 6, 8, uint64(100+i)))
			feats = append(feats, ExpandAxes(Tanh(MatMul(in, w)), 1))
		}
		return Reshape(f, b, 2, 1, 1), feats
	}
}

// fixedMatrix is a deterministic random (r, c) matrix with entries N(0, 1).
func fixedMatrix(dt dtypes.DType, r, c int, seed uint64) *tensors.Tensor {
	return randTensor(rand.New(rand.NewPCG(seed, 1)), dt, 1, r, c)
}

// mlpStudent is F_θ(x̂, θ, caption, w) = MLP([x̂, cosθ, sinθ, caption, 0.1·w]) with two SiLU
// hidden layers, and a logvar = linear(time features).
func mlpStudent(w map[string]*Node, xhat, theta, text, _, guidance *Node) (*Node, *Node) {
	b := xhat.Shape().Dimensions[0]
	cos, sin := ExpandAxes(Cos(theta), -1), ExpandAxes(Sin(theta), -1)
	in := Concatenate([]*Node{Reshape(xhat, b, 2), cos, sin, Reshape(text, b, 2), ExpandAxes(MulScalar(guidance, 0.1), -1)}, 1)
	silu := func(x *Node) *Node { return Mul(x, Sigmoid(x)) }
	dense := func(x *Node, name string) *Node {
		return Add(MatMul(x, w[name+".weight"]), ExpandAxes(w[name+".bias"], 0))
	}
	h := silu(dense(in, "l1"))
	h = silu(dense(h, "l2"))
	f := dense(h, "l3")
	logvar := dense(Concatenate([]*Node{cos, sin}, 1), "logvar")
	return Reshape(f, b, 2, 1, 1), Reshape(logvar, b)
}

func initMLP(seed uint64) map[string]*tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	dt := dtypes.Float32
	lin := func(in, out int) (*tensors.Tensor, *tensors.Tensor) {
		return randTensor(rng, dt, 1/math.Sqrt(float64(in)), in, out), tensorOf(make([]float64, out), dt, out)
	}
	p := map[string]*tensors.Tensor{}
	p["l1.weight"], p["l1.bias"] = lin(7, mlpWidth)
	p["l2.weight"], p["l2.bias"] = lin(mlpWidth, mlpWidth)
	p["l3.weight"], p["l3.bias"] = lin(mlpWidth, 2)
	p["logvar.weight"], p["logvar.bias"] = lin(2, 1)
	return p
}

// gmmBatch draws n samples: latents (n, 2, 1, 1), one-hot captions (n, 1, 2), masks (n, 1).
func gmmBatch(rng *rand.Rand, n int) map[string]*tensors.Tensor {
	lat := make([]float64, 2*n)
	text := make([]float64, 2*n)
	for i := range n {
		c := rng.IntN(2)
		k := 2*c + rng.IntN(2)
		lat[2*i] = gmmMeans[k][0] + gmmStd*rng.NormFloat64()
		lat[2*i+1] = gmmMeans[k][1] + gmmStd*rng.NormFloat64()
		text[2*i+c] = 1
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	return map[string]*tensors.Tensor{
		BatchLatent:   tensorOf(lat, dtypes.Float32, n, 2, 1, 1),
		BatchText:     tensorOf(text, dtypes.Float32, n, 1, 2),
		BatchMask:     tensorOf(ones, dtypes.Float32, n, 1),
		NullEmbedding: tensorOf([]float64{0, 0}, dtypes.Float32, 1, 1, 2),
	}
}

// evalSamples returns the mean squared distance, in latent units, between the student's 1-step
// samples and the teacher's 200-step Euler-in-θ samples (CFG scale w) from the same noise.
type sampleEval struct {
	exec *Exec
	args []any
}

func newSampleEval(t testing.TB, sigmaData, w float64, n int) *sampleEval {
	rng := rand.New(rand.NewPCG(99, 1))
	batch := gmmBatch(rng, n)
	noise := randTensor(rng, dtypes.Float32, 1, n, 2, 1, 1)
	teacher := gmmTeacher(sigmaData)
	names := []string{"l1.bias", "l1.weight", "l2.bias", "l2.weight", "l3.bias", "l3.weight", "logvar.bias", "logvar.weight"}
	exec, err := NewExec(testBackend(), func(in []*Node) []*Node {
		p := map[string]*Node{}
		for i, nm := range names {
			p[nm] = in[i]
		}
		k := len(names)
		noise, text, null, rngState := in[k], in[k+1], in[k+2], in[k+3]
		g := noise.Graph()
		ws := BroadcastToDims(Scalar(g, noise.DType(), w), n)
		student, _ := fewStepSample(func(xhat, theta *Node) *Node {
			f, _ := mlpStudent(p, xhat, theta, text, nil, ws)
			return f
		}, noise, rngState, []float64{math.Pi / 2, 0}, sigmaData)
		// Teacher: Euler in θ on dx/dθ = σd·F_cfg, F_cfg = F_u + w(F_c − F_u).
		x := MulScalar(noise, sigmaData)
		nulls := BroadcastToDims(null, n, 1, 2)
		const steps = 200
		for i := range steps {
			from := math.Pi / 2 * float64(steps-i) / steps
			to := math.Pi / 2 * float64(steps-i-1) / steps
			th := perSampleConst(x, n, from)
			fc, _ := teacher(nil, DivScalar(x, sigmaData), th, text, nil, nil)
			fu, _ := teacher(nil, DivScalar(x, sigmaData), th, nulls, nil, nil)
			fcfg := Add(fu, MulScalar(Sub(fc, fu), w))
			x = Add(x, MulScalar(fcfg, sigmaData*(to-from)))
		}
		ref := DivScalar(x, sigmaData)
		return []*Node{ReduceAllMean(ReduceSum(Square(Sub(student, ref)), 1)), ref}
	})
	if err != nil {
		t.Fatal(err)
	}
	rngT, err := RNGStateFromSeed(1)
	if err != nil {
		t.Fatal(err)
	}
	return &sampleEval{exec: exec, args: []any{noise, batch[BatchText], batch[NullEmbedding], rngT}}
}

func (e *sampleEval) mse(t testing.TB, params map[string]*tensors.Tensor) float64 {
	t.Helper()
	names := []string{"l1.bias", "l1.weight", "l2.bias", "l2.weight", "l3.bias", "l3.weight", "logvar.bias", "logvar.weight"}
	var args []any
	for _, n := range names {
		args = append(args, params[n])
	}
	out, err := e.exec.Exec(append(args, e.args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return flat(out[0])[0]
}

// distillGMM trains the MLP student for the given number of G steps (alternating with D steps
// when LADD is on) and returns the 1-step error before and after.
func distillGMM(t testing.TB, cfg Config, gSteps, batch int, lr float64) (before, after float64) {
	nets := networks{student: mlpStudent, teacher: gmmTeacher(cfg.SigmaData)}
	opt := &train.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	gStep := train.NewStepper(testBackend(), "G", generatorLoss(cfg, PhaseRatio{}, nets), opt, 1)
	student := train.Group(initMLP(5))
	optG := opt.InitState(student)
	var dStep *train.Stepper
	var heads, buffers, optD train.Group
	if cfg.LADD() {
		dStep = train.NewStepper(testBackend(), "D", discriminatorLoss(cfg, nets), opt, 1)
		h, b, err := initHeads(len(cfg.HeadBlockIDs), 8, dtypes.Float32, 7)
		if err != nil {
			t.Fatal(err)
		}
		heads, buffers, optD = h, b, opt.InitState(h)
	}
	eval := newSampleEval(t, cfg.SigmaData, cfg.CfgScales[len(cfg.CfgScales)-1], 256)
	before = eval.mse(t, student)
	rng := rand.New(rand.NewPCG(42, 0))
	var global int64
	start := time.Now()
	var last train.StepResult
	for range gSteps {
		res, err := gStep.Step(student, prefixed(HeadsGroup, heads), buffers, optG, gmmBatch(rng, batch), train.StepRNG(1, global, 0, 0), lr, global)
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped {
			t.Fatalf("G step %d skipped: loss %v", global, res.Loss)
		}
		student, optG, last = res.Trainable, res.OptState, res
		global++
		if dStep != nil {
			res, err := dStep.Step(heads, prefixed(StudentGroup, student), buffers, optD, gmmBatch(rng, batch), train.StepRNG(1, global, 1, 0), lr, global)
			if err != nil {
				t.Fatal(err)
			}
			heads, optD, buffers = res.Trainable, res.OptState, res.Buffers
			global++
		}
	}
	after = eval.mse(t, student)
	t.Logf("%d G steps in %v; last G metrics %s", gSteps, time.Since(start).Round(time.Millisecond), fmtMetrics(last.Metrics))
	return before, after
}

func fmtMetrics(m map[string]float64) string {
	s := ""
	for _, k := range []string{"scm_loss", "loss_no_weight", "g_norm", "adv_loss"} {
		if v, ok := m[k]; ok {
			s += fmt.Sprintf("%s=%.4g ", k, v)
		}
	}
	return s
}

// TestDistillGMMEndToEnd distils the exact mixture teacher with sCM + LADD (the reference
// defaults but for the warmup length, the head blocks and guidance scales suited to a 2-D toy),
// and with sCM alone, and checks that the student's 1-step samples get several times closer to
// the teacher's 200-step samples. (LADD alone from a random student is a plain GAN and is not
// expected to converge here; SANA-Sprint starts the student from the teacher.)
func TestDistillGMMEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end distillation")
	}
	for _, c := range []struct {
		name string
		adv  float64
	}{{"scm+ladd", 0.5}, {"scm", 0}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.HeadBlockIDs = []int{0, 1}
			cfg.CfgScales = []float64{1.5, 2}
			cfg.TangentWarmupSteps = 200
			cfg.AdvLambda = c.adv
			before, after := distillGMM(t, cfg, 300, 64, 2e-3)
			t.Logf("1-step MSE to the teacher's 200-step samples: %.4f before, %.4f after", before, after)
			if !(after < before/4) {
				t.Errorf("distillation did not lower the 1-step error enough: %.4f -> %.4f", before, after)
			}
		})
	}
}
