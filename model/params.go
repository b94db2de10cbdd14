package model

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Role says which variant of the network a parameter set belongs to.
type Role int

const (
	// Teacher is the flow-matching SANA model: diffusers' SanaTransformer2DModel with
	// guidance_embeds=False (time embedder under time_embed.emb.timestep_embedder).
	Teacher Role = iota
	// Student is SANA-Sprint's student: the same network plus a guidance embedder added to the
	// time embedding (diffusers' guidance_embeds=True key names) and the logvar head.
	Student
)

func (r Role) String() string {
	switch r {
	case Teacher:
		return "teacher"
	case Student:
		return "student"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParamSpec names one parameter (diffusers key) and its dimensions.
type ParamSpec struct {
	Name string
	Dims []int
}

// Size is the number of elements of the parameter.
func (s ParamSpec) Size() int64 {
	n := int64(1)
	for _, d := range s.Dims {
		n *= int64(d)
	}
	return n
}

// Parameter names outside the transformer blocks.
const (
	LogvarWeight = "logvar_linear.weight" // [1, D]: student only, not part of diffusers' model
	LogvarBias   = "logvar_linear.bias"   // [1]
)

// timeEmbedderPrefix is where the timestep MLP lives: diffusers nests it under "emb." for the
// teacher (AdaLayerNormSingle) and not for the student (SanaCombinedTimestepGuidanceEmbeddings).
func timeEmbedderPrefix(role Role) string {
	if role == Student {
		return "time_embed.timestep_embedder."
	}
	return "time_embed.emb.timestep_embedder."
}

const guidanceEmbedderPrefix = "time_embed.guidance_embedder."

func blockPrefix(i int) string { return fmt.Sprintf("transformer_blocks.%d.", i) }

// ParamSpecs lists every parameter of the network for the role, with diffusers' names and
// shapes, in a fixed order (embeddings, blocks in order, output, student heads). It needs the
// shapes only (no allocation), so it also serves to count the 1.6B model. cfg must be valid.
func ParamSpecs(cfg Config, role Role) []ParamSpec {
	cfg, err := cfg.Resolved()
	if err != nil {
		panic(err)
	}
	D, C, p, Dc := cfg.HiddenSize, cfg.InChannels, cfg.PatchSize, cfg.CaptionDim
	Hd := cfg.FFNHidden()
	var specs []ParamSpec
	add := func(name string, dims ...int) { specs = append(specs, ParamSpec{Name: name, Dims: dims}) }
	mlp := func(prefix string) {
		add(prefix+"linear_1.weight", D, sinusoidWidth)
		add(prefix+"linear_1.bias", D)
		add(prefix+"linear_2.weight", D, D)
		add(prefix+"linear_2.bias", D)
	}

	add("patch_embed.proj.weight", D, C, p, p)
	add("patch_embed.proj.bias", D)
	mlp(timeEmbedderPrefix(role))
	if role == Student {
		mlp(guidanceEmbedderPrefix)
	}
	add("time_embed.linear.weight", 6*D, D)
	add("time_embed.linear.bias", 6*D)
	add("caption_projection.linear_1.weight", D, Dc)
	add("caption_projection.linear_1.bias", D)
	add("caption_projection.linear_2.weight", D, D)
	add("caption_projection.linear_2.bias", D)
	add("caption_norm.weight", D)
	for i := range cfg.Depth {
		b := blockPrefix(i)
		add(b+"scale_shift_table", 6, D)
		for _, m := range []string{"to_q", "to_k", "to_v"} {
			add(b+"attn1."+m+".weight", D, D)
		}
		if cfg.QKNorm {
			add(b+"attn1.norm_q.weight", D)
			add(b+"attn1.norm_k.weight", D)
		}
		add(b+"attn1.to_out.0.weight", D, D)
		add(b+"attn1.to_out.0.bias", D)
		for _, m := range []string{"to_q", "to_k", "to_v"} {
			add(b+"attn2."+m+".weight", D, D)
			add(b+"attn2."+m+".bias", D)
		}
		if cfg.CrossNorm {
			add(b+"attn2.norm_q.weight", D)
			add(b+"attn2.norm_k.weight", D)
		}
		add(b+"attn2.to_out.0.weight", D, D)
		add(b+"attn2.to_out.0.bias", D)
		add(b+"ff.conv_inverted.weight", 2*Hd, D, 1, 1)
		add(b+"ff.conv_inverted.bias", 2*Hd)
		add(b+"ff.conv_depth.weight", 2*Hd, 1, 3, 3)
		add(b+"ff.conv_depth.bias", 2*Hd)
		add(b+"ff.conv_point.weight", D, Hd, 1, 1)
	}
	add("scale_shift_table", 2, D)
	add("proj_out.weight", p*p*C, D)
	add("proj_out.bias", p*p*C)
	if role == Student {
		add(LogvarWeight, 1, D)
		add(LogvarBias, 1)
	}
	return specs
}

// RoleOfNames tells a student parameter set (it has the guidance embedder) from a teacher's.
func RoleOfNames(names []string) Role {
	for _, n := range names {
		if strings.HasPrefix(n, guidanceEmbedderPrefix) {
			return Student
		}
	}
	return Teacher
}

// IsDiffusersParam reports whether a parameter belongs to diffusers' SanaTransformer2DModel
// (everything but the logvar head), i.e. whether it is exported.
func IsDiffusersParam(name string) bool { return !strings.HasPrefix(name, "logvar_linear.") }

// ParamGroup names the part of the network a parameter belongs to, for counts and for
// training code that treats groups differently: "patch_embed", "time_embed",
// "guidance_embed", "caption", "blocks", "output", "logvar".
func ParamGroup(name string) string {
	switch {
	case strings.HasPrefix(name, "patch_embed."):
		return "patch_embed"
	case strings.HasPrefix(name, guidanceEmbedderPrefix):
		return "guidance_embed"
	case strings.HasPrefix(name, "time_embed."):
		return "time_embed"
	case strings.HasPrefix(name, "caption_"):
		return "caption"
	case strings.HasPrefix(name, "transformer_blocks."):
		return "blocks"
	case strings.HasPrefix(name, "logvar_linear."):
		return "logvar"
	}
	return "output"
}

// ParamGroups lists the groups in network order.
func ParamGroups() []string {
	return []string{"patch_embed", "time_embed", "guidance_embed", "caption", "blocks", "output", "logvar"}
}

// CountParams returns the number of elements per group (see ParamGroup) and in total.
func CountParams(specs []ParamSpec) (perGroup map[string]int64, total int64) {
	perGroup = make(map[string]int64)
	for _, s := range specs {
		perGroup[ParamGroup(s.Name)] += s.Size()
		total += s.Size()
	}
	return perGroup, total
}

// Params holds parameter values by name (diffusers keys).
type Params map[string]*tensors.Tensor

// SortedNames returns the parameter names in sorted order: the order in which training code
// passes parameters to a graph.Exec (see Params.Sorted and WeightsFromNodes).
func SortedNames(p Params) []string { return slices.Sorted(maps.Keys(p)) }

// Sorted returns the names in sorted order and the tensors in the same order.
func (p Params) Sorted() ([]string, []*tensors.Tensor) {
	names := SortedNames(p)
	ts := make([]*tensors.Tensor, len(names))
	for i, n := range names {
		ts[i] = p[n]
	}
	return names, ts
}

// CheckParams compares p against the specs of (cfg, role): it returns an error listing the
// missing, unexpected and mis-shaped names, or nil when they match exactly.
func CheckParams(cfg Config, role Role, p Params) error {
	specs := ParamSpecs(cfg, role)
	want := make(map[string][]int, len(specs))
	for _, s := range specs {
		want[s.Name] = s.Dims
	}
	var missing, unexpected, misshaped []string
	for _, s := range specs {
		t, ok := p[s.Name]
		if !ok || t == nil {
			missing = append(missing, s.Name)
			continue
		}
		if !slices.Equal(t.Shape().Dimensions, s.Dims) {
			misshaped = append(misshaped, fmt.Sprintf("%s: have %v, want %v", s.Name, t.Shape().Dimensions, s.Dims))
		}
	}
	for _, name := range SortedNames(p) {
		if _, ok := want[name]; !ok {
			unexpected = append(unexpected, name)
		}
	}
	return KeysError(role.String()+" parameters", missing, unexpected, misshaped)
}

// KeysError formats a parameter-set mismatch ("<what> do not match the model config", then
// one line per key); it returns nil when all lists are empty.
func KeysError(what string, missing, unexpected, misshaped []string) error {
	if len(missing)+len(unexpected)+len(misshaped) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s do not match the model config (%d missing, %d unexpected, %d mis-shaped)",
		what, len(missing), len(unexpected), len(misshaped))
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n  %s:", title)
		for _, it := range items {
			b.WriteString("\n    " + it)
		}
	}
	list("missing", missing)
	list("unexpected", unexpected)
	list("mis-shaped", misshaped)
	return fmt.Errorf("%s", b.String())
}

// InitParams returns freshly initialised parameters, following the reference initialisation
// (SanaMS.initialize_weights): Linear layers Xavier-uniform with zero bias; the patch
// embedding Xavier-uniform over its flattened kernel; the time MLP, t_block (time_embed.linear)
// and caption MLP weights N(0, 0.02²); convolutions PyTorch's default U(±1/√fan_in);
// scale-shift tables N(0, 1/D); QK-norm weights 1 and the caption norm weight 0.01
// (y_norm_scale_factor); cross-attention output and final projection zero (PixArt/SANA);
// student only: guidance embedder first layer N(0, 0.02²), last layer zero (§2.3), logvar
// head Xavier-uniform with zero bias (§2.5). Each tensor draws from its own stream derived
// from (seed, name), so the values do not depend on which other parameters exist.
func InitParams(cfg Config, role Role, seed int64) (Params, error) {
	return InitParamsFor(cfg, role, seed, nil)
}

// InitParamsFor is InitParams restricted to the names for which keep returns true (all when
// keep is nil); the values are the same as InitParams gives for those names.
func InitParamsFor(cfg Config, role Role, seed int64, keep func(name string) bool) (Params, error) {
	cfg, err := cfg.resolvedValid()
	if err != nil {
		return nil, err
	}
	dt := cfg.mustDType()
	p := make(Params)
	for _, s := range ParamSpecs(cfg, role) {
		if keep != nil && !keep(s.Name) {
			continue
		}
		t, err := newTensor(dt, s.Dims, initValues(cfg, s, seed))
		if err != nil {
			return nil, fmt.Errorf("init %s: %w", s.Name, err)
		}
		p[s.Name] = t
	}
	return p, nil
}

// initValues returns the initial values of one parameter as float64s.
func initValues(cfg Config, s ParamSpec, seed int64) []float64 {
	n := int(s.Size())
	vals := make([]float64, n)
	rng := paramRNG(seed, s.Name)
	name := s.Name
	normal := func(std float64) {
		for i := range vals {
			vals[i] = rng.NormFloat64() * std
		}
	}
	uniform := func(bound float64) {
		for i := range vals {
			vals[i] = (2*rng.Float64() - 1) * bound
		}
	}
	fill := func(v float64) {
		for i := range vals {
			vals[i] = v
		}
	}
	xavier := func() { // fan_in = prod(dims[1:]), fan_out = dims[0]
		fanOut := s.Dims[0]
		fanIn := n / fanOut
		uniform(math.Sqrt(6 / float64(fanIn+fanOut)))
	}
	isBias := strings.HasSuffix(name, ".bias")
	switch {
	case strings.HasSuffix(name, "scale_shift_table"):
		normal(1 / math.Sqrt(float64(cfg.HiddenSize)))
	case strings.HasSuffix(name, ".norm_q.weight"), strings.HasSuffix(name, ".norm_k.weight"):
		fill(1)
	case name == "caption_norm.weight":
		fill(0.01)
	case strings.Contains(name, ".ff.conv_"):
		fanIn := 1
		for _, d := range s.Dims[1:] {
			fanIn *= d
		}
		if isBias {
			// conv_*.bias [out]: fan_in of the matching weight.
			fanIn = ffnFanIn(cfg, name)
		}
		uniform(1 / math.Sqrt(float64(fanIn)))
	case strings.HasPrefix(name, guidanceEmbedderPrefix+"linear_2."):
		fill(0) // the student starts exactly as the teacher (§2.3)
	case strings.Contains(name, ".attn2.to_out.0."), strings.HasPrefix(name, "proj_out."):
		fill(0)
	case isBias:
		fill(0)
	case strings.Contains(name, "timestep_embedder."), strings.HasPrefix(name, guidanceEmbedderPrefix),
		name == "time_embed.linear.weight", strings.HasPrefix(name, "caption_projection."):
		normal(0.02)
	default: // Linear weights, the patch embedding, the logvar head
		xavier()
	}
	return vals
}

// ffnFanIn is the fan-in of the Mix-FFN convolution that a bias belongs to.
func ffnFanIn(cfg Config, biasName string) int {
	switch {
	case strings.HasSuffix(biasName, "conv_inverted.bias"):
		return cfg.HiddenSize
	case strings.HasSuffix(biasName, "conv_depth.bias"):
		return 9
	}
	return cfg.FFNHidden()
}

// paramRNG is a deterministic stream for one parameter of one seed.
func paramRNG(seed int64, name string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// newTensor builds a host tensor of dtype dt from float64 values.
func newTensor(dt dtypes.DType, dims []int, vals []float64) (*tensors.Tensor, error) {
	t := tensors.FromShape(shapes.Make(dt, dims...))
	if len(vals) == 0 {
		return t, nil
	}
	var err error
	switch dt {
	case dtypes.Float64:
		err = tensors.MutableFlatData(t, func(f []float64) { copy(f, vals) })
	case dtypes.Float32:
		err = tensors.MutableFlatData(t, func(f []float32) {
			for i, v := range vals {
				f[i] = float32(v)
			}
		})
	case dtypes.BFloat16:
		err = tensors.MutableFlatData(t, func(f []bfloat16.BFloat16) {
			for i, v := range vals {
				f[i] = bfloat16.FromFloat64(v)
			}
		})
	default:
		err = fmt.Errorf("unsupported parameter dtype %s", dt)
	}
	return t, err
}

// StudentFromTeacher builds the student's initial parameters from the teacher's (§6): every
// teacher tensor is copied, the time embedder moves from time_embed.emb.timestep_embedder.* to
// time_embed.timestep_embedder.*, and a fresh guidance embedder (last layer zero, so the
// student starts equal to the teacher for every guidance value) and logvar head are added.
func StudentFromTeacher(cfg Config, teacher Params, seed int64) (Params, error) {
	cfg, err := cfg.resolvedValid()
	if err != nil {
		return nil, err
	}
	if err := CheckParams(cfg, Teacher, teacher); err != nil {
		return nil, err
	}
	fresh, err := InitParamsFor(cfg, Student, seed, func(name string) bool {
		return strings.HasPrefix(name, guidanceEmbedderPrefix) || !IsDiffusersParam(name)
	})
	if err != nil {
		return nil, err
	}
	student := make(Params, len(teacher)+len(fresh))
	tPrefix, sPrefix := timeEmbedderPrefix(Teacher), timeEmbedderPrefix(Student)
	for name, t := range teacher {
		clone, err := t.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("copying teacher %s: %w", name, err)
		}
		if rest, ok := strings.CutPrefix(name, tPrefix); ok {
			name = sPrefix + rest
		}
		student[name] = clone
	}
	maps.Copy(student, fresh)
	if err := CheckParams(cfg, Student, student); err != nil {
		return nil, fmt.Errorf("internal: student built from teacher: %w", err)
	}
	return student, nil
}
