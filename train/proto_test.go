package train

import (
	"testing"
	"fmt"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	_ "github.com/gomlx/gomlx/backends/default"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestProto(t *testing.T) {
	b, err := compute.New()
	if err != nil { t.Fatal(err) }
	t0 := time.Now()
	e, err := graph.NewExec(b, func(g *graph.Graph, in []*graph.Node) []*graph.Node {
		x, y := in[0], in[1]
		loss := graph.ReduceAllSum(graph.Mul(x, x))
		grads := graph.Gradient(loss, x, y)
		fin := graph.LogicalAnd(graph.IsFinite(loss), graph.IsFinite(loss))
		w := graph.Where(fin, x, graph.ZerosLike(x))
		_, r := graph.RandomNormal(in[2], shapes.Make(dtypes.Float32, 2))
		return []*graph.Node{grads[0], grads[1], w, r, graph.ConvertDType(fin, dtypes.Float32)}
	})
	if err != nil { t.Fatal(err) }
	rng, _ := graph.RNGStateFromSeed(1)
	out, err := e.Exec(tensors.FromValue([]float32{1, 2}), tensors.FromValue([]float32{3}), rng)
	fmt.Println(out, err, time.Since(t0), rng.Shape())
}
