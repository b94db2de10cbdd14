package vae

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/internal/netgraph"
	"github.com/sprint-distill/sprint/internal/tensorconv"
	"github.com/sprint-distill/sprint/safetensors"
)

// Params holds an autoencoder's tensors by diffusers key, as float32 host tensors (bf16, f16
// and f64 checkpoints are converted on load; the networks compute in float32).
type Params map[string]*tensors.Tensor

// Sorted returns the names in sorted order and the tensors in the same order.
func (p Params) Sorted() ([]string, []*tensors.Tensor) { return netgraph.Sorted(p) }

// Parts selects which halves of the autoencoder to load.
type Parts int

// The halves.
const (
	EncoderPart Parts = 1 << iota
	DecoderPart
	BothParts = EncoderPart | DecoderPart
)

// specsFor lists the specs of the selected parts.
func specsFor(c Config, parts Parts) []ParamSpec {
	var specs []ParamSpec
	if parts&EncoderPart != 0 {
		specs = append(specs, EncoderParamSpecs(c)...)
	}
	if parts&DecoderPart != 0 {
		specs = append(specs, DecoderParamSpecs(c)...)
	}
	return specs
}

// WeightsFile is the weights file name of a diffusers folder.
const WeightsFile = "diffusion_pytorch_model.safetensors"

// Load reads a DC-AE in the diffusers layout from dir (config.json and
// diffusion_pytorch_model.safetensors, or its sharded .index.json) and returns its config and the
// tensors of the selected parts. Loading is strict: the file must hold exactly the tensors of
// ParamSpecs (num_batches_tracked of batch norms may be absent) with their shapes and a floating
// dtype; otherwise the error lists every missing, unexpected and mis-shaped key. A missing folder or
// file says what to download.
func Load(dir string, parts Parts) (Config, Params, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Config{}, nil, fmt.Errorf("DC-AE folder %s not found: %s", dir, getHelp)
		}
		return Config{}, nil, fmt.Errorf("DC-AE folder: %w", err)
	}
	if !st.IsDir() {
		return Config{}, nil, fmt.Errorf("DC-AE weights %s: want a diffusers folder (config.json and %s), got a file", dir, WeightsFile)
	}
	cfg, err := ReadConfig(dir)
	if err != nil {
		return Config{}, nil, err
	}
	p, err := LoadWeights(dir, cfg, parts)
	if err != nil {
		return Config{}, nil, err
	}
	return cfg, p, nil
}

// LoadWeights reads the tensors of the selected parts of cfg from dir (a diffusers folder), a
// .safetensors file or a sharded index, strictly as Load does.
func LoadWeights(path string, cfg Config, parts Parts) (Params, error) {
	w, err := openWeights(path)
	if err != nil {
		return nil, err
	}
	defer w.close()
	if err := checkKeys(w.label, cfg, w.where); err != nil {
		return nil, err
	}
	p := Params{}
	for _, s := range specsFor(cfg, parts) {
		if s.Optional {
			continue
		}
		f := w.where[s.Name]
		vals, _, err := f.Float32(s.Name)
		if err != nil {
			return nil, fmt.Errorf("DC-AE weights: %w", err)
		}
		for i, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("DC-AE weights %s: tensor %q element %d is %v", f.Path(), s.Name, i, v)
			}
		}
		p[s.Name] = tensors.FromFlatDataAndDimensions(vals, s.Dims...)
	}
	return p, nil
}

// CheckWeights checks a checkpoint (diffusers folder, .safetensors file or sharded index) against
// cfg as Load does, reading only the headers, and returns how many tensors it holds per dtype.
func CheckWeights(path string, cfg Config) (map[string]int, error) {
	w, err := openWeights(path)
	if err != nil {
		return nil, err
	}
	defer w.close()
	count := map[string]int{}
	for _, f := range w.files {
		for _, n := range f.Names() {
			e, _ := f.Entry(n)
			count[e.DType]++
		}
	}
	return count, checkKeys(w.label, cfg, w.where)
}

// weightFiles are the open safetensors file(s) of a checkpoint.
type weightFiles struct {
	files []*safetensors.File
	where map[string]*safetensors.File // the file holding each tensor
	label string                       // the file, or the index and its shard count, for errors
}

func (w *weightFiles) close() {
	for _, f := range w.files {
		_ = f.Close()
	}
}

// openWeights opens the safetensors file(s) of a folder, file or sharded index.
func openWeights(path string) (*weightFiles, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("DC-AE weights %s not found: %s", path, getHelp)
		}
		return nil, fmt.Errorf("DC-AE weights: %w", err)
	}
	file, sharded, err := safetensors.Resolve(path)
	if err != nil {
		return nil, fmt.Errorf("DC-AE weights: %w: %s", err, getHelp)
	}
	names := []string{file}
	if sharded {
		idx, err := safetensors.ReadIndex(file)
		if err != nil {
			return nil, fmt.Errorf("DC-AE weights: %w", err)
		}
		names = names[:0]
		for _, s := range idx.Shards() {
			names = append(names, filepath.Join(filepath.Dir(file), s))
		}
	}
	var files []*safetensors.File
	for _, n := range names {
		f, err := safetensors.OpenWeights(n, "DC-AE weights", getHelp)
		if err != nil {
			for _, o := range files {
				_ = o.Close()
			}
			return nil, err
		}
		files = append(files, f)
	}
	w := &weightFiles{files: files, where: map[string]*safetensors.File{}, label: files[0].Path()}
	for _, f := range files {
		for _, n := range f.Names() {
			w.where[n] = f
		}
	}
	if len(files) > 1 {
		w.label = fmt.Sprintf("%s (%d shards)", path, len(files))
	}
	return w, nil
}

// checkKeys compares a checkpoint's tensors with ParamSpecs and reports every difference.
func checkKeys(label string, cfg Config, where map[string]*safetensors.File) error {
	specs := ParamSpecs(cfg)
	want := make(map[string]ParamSpec, len(specs))
	var missing, misshaped, badType, unexpected []string
	for _, s := range specs {
		want[s.Name] = s
		f, ok := where[s.Name]
		if !ok {
			if !s.Optional {
				missing = append(missing, fmt.Sprintf("%s %v", s.Name, s.Dims))
			}
			continue
		}
		e, _ := f.Entry(s.Name)
		if !slices.Equal(e.Shape, s.Dims) {
			misshaped = append(misshaped, fmt.Sprintf("%s: shape %v, want %v", s.Name, e.Shape, s.Dims))
			continue
		}
		switch e.DType {
		case "F32", "F16", "BF16", "F64":
		default:
			if !s.Optional {
				badType = append(badType, fmt.Sprintf("%s: dtype %s, want a float", s.Name, e.DType))
			}
		}
	}
	for n := range where {
		if _, ok := want[n]; !ok {
			unexpected = append(unexpected, n)
		}
	}
	if len(missing)+len(misshaped)+len(badType)+len(unexpected) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "DC-AE weights %s do not match the config (%d tensors expected):", label, len(specs))
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		sort.Strings(items)
		fmt.Fprintf(&b, "\n  %d %s:", len(items), title)
		const show = 20
		for i, it := range items {
			if i == show {
				fmt.Fprintf(&b, "\n    … and %d more", len(items)-show)
				break
			}
			fmt.Fprintf(&b, "\n    %s", it)
		}
	}
	list("missing", missing)
	list("unexpected", unexpected)
	list("mis-shaped", misshaped)
	list("with a wrong dtype", badType)
	return errors.New(b.String())
}

// RandomParams draws every tensor of the selected parts from a seeded generator: conv and linear
// weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1²), norm weights 1 + N(0, 0.1²), batch-norm running
// means ~ N(0, 0.1²) and variances 1 + |N(0, 0.1²)|. For tests and benchmarks.
func RandomParams(c Config, parts Parts, seed uint64) Params {
	rng := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	p := Params{}
	for _, s := range specsFor(c, parts) {
		if s.Optional {
			continue
		}
		vals := make([]float32, s.Size())
		switch {
		case len(s.Dims) >= 2:
			std := 1 / math.Sqrt(float64(s.Size()/int64(s.Dims[0])))
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * std)
			}
		case strings.HasSuffix(s.Name, ".running_var"):
			for i := range vals {
				vals[i] = float32(1 + math.Abs(0.1*rng.NormFloat64()))
			}
		case strings.HasSuffix(s.Name, "norm.weight") || strings.HasSuffix(s.Name, "norm_out.weight"):
			for i := range vals {
				vals[i] = float32(1 + 0.1*rng.NormFloat64())
			}
		default:
			for i := range vals {
				vals[i] = float32(0.1 * rng.NormFloat64())
			}
		}
		p[s.Name] = tensors.FromFlatDataAndDimensions(vals, s.Dims...)
	}
	return p
}

// Save writes cfg and p as a diffusers folder (config.json and diffusion_pytorch_model.safetensors)
// with tensors stored in dtype (float32 or bfloat16). Tests use it to build checkpoints.
func Save(dir string, cfg Config, p Params, dtype dtypes.DType) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving DC-AE: %w", err)
	}
	js, err := cfg.JSON()
	if err != nil {
		return fmt.Errorf("saving DC-AE config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		return fmt.Errorf("saving DC-AE config: %w", err)
	}
	out := make(map[string]*tensors.Tensor, len(p))
	for name, t := range p {
		switch dtype {
		case dtypes.Float32:
			out[name] = t
		case dtypes.BFloat16:
			bt, err := tensorconv.Convert(t, dtypes.BFloat16)
			if err != nil {
				return fmt.Errorf("saving DC-AE tensor %q: %w", name, err)
			}
			out[name] = bt
		default:
			return fmt.Errorf("saving DC-AE: dtype %s: want float32 or bfloat16", dtype)
		}
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), out, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("saving DC-AE weights: %w", err)
	}
	return nil
}
