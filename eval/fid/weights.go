package fid

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/sprint-distill/sprint/safetensors"
)

// FeatureDim is the size of the pool3 features FID uses.
const FeatureDim = 2048

// InputSize is the side pytorch-fid resizes every image to.
const InputSize = 299

// WeightsHelp says where the FID Inception weights come from and how to convert them.
const WeightsHelp = `The FID Inception weights are pytorch-fid's pt_inception-2015-12-05-6726825d.pth ` +
	`(release "fid_weights" of github.com/mseitzer/pytorch-fid), stored as safetensors with the same names. ` +
	`Convert once with: python -c "import torch; from safetensors.torch import save_file; ` +
	`sd = torch.load('pt_inception-2015-12-05-6726825d.pth', map_location='cpu'); ` +
	`save_file({k: v.float().contiguous() for k, v in sd.items() if not k.endswith('num_batches_tracked')}, ` +
	`'pt_inception-2015-12-05.safetensors')"`

// ConvBN holds one conv unit's tensors as stored by PyTorch: the kernel in OIHW layout and the
// BatchNorm affine parameters and running statistics.
type ConvBN struct {
	Kernel                 []float32
	Gamma, Beta, Mean, Var []float32
}

// Weights are the FID Inception's conv+BN tensors by unit name (e.g. "Mixed_5b.branch1x1").
type Weights struct {
	Units map[string]*ConvBN
}

// LoadWeights reads the FID Inception from a safetensors file with torchvision Inception3 names (the
// keys of pt_inception-2015-12-05-6726825d.pth) or pytorch-fid InceptionV3 wrapper names (blocks.N.M).
func LoadWeights(path string) (*Weights, error) {
	f, err := safetensors.OpenWeights(path, "FID Inception weights", WeightsHelp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]string{} // canonical -> name in file
	for _, n := range f.Names() {
		names[canonicalKey(n)] = n
	}
	w := &Weights{Units: map[string]*ConvBN{}}
	var missing []string
	for _, u := range inceptionUnits() {
		cb := &ConvBN{}
		dst := []*[]float32{&cb.Kernel, &cb.Gamma, &cb.Beta, &cb.Mean, &cb.Var}
		keys := []string{u.name + ".conv.weight"}
		for _, s := range bnSuffixes {
			keys = append(keys, u.name+s)
		}
		for i, key := range keys {
			fileName, ok := names[key]
			if !ok {
				missing = append(missing, key)
				continue
			}
			data, shape, err := f.Float32(fileName)
			if err != nil {
				return nil, fmt.Errorf("FID Inception weights: %w", err)
			}
			want, _ := keyShape(key)
			if !slices.Equal(shape, want) {
				return nil, fmt.Errorf("FID Inception weights %s: %q has shape %v, want %v", path, fileName, shape, want)
			}
			*dst[i] = data
		}
		w.Units[u.name] = cb
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 5 {
			more = fmt.Sprintf(" and %d more", len(missing)-5)
			missing = missing[:5]
		}
		return nil, fmt.Errorf("FID Inception weights %s lack %s%s. %s", path, strings.Join(missing, ", "), more, WeightsHelp)
	}
	return w, nil
}

func canonicalKey(name string) string {
	for from, to := range wrapperPrefixes {
		if strings.HasPrefix(name, from+".") {
			return to + name[len(from):]
		}
	}
	return name
}

// RandomWeights returns He-initialised kernels and mildly random BatchNorm statistics: a stand-in for
// tests and benchmarks, which cannot ship the real weights.
func RandomWeights(seed uint64) *Weights {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	w := &Weights{Units: map[string]*ConvBN{}}
	for _, u := range inceptionUnits() {
		fanIn := u.in * u.kh * u.kw
		std := math.Sqrt(2 / float64(fanIn))
		cb := &ConvBN{Kernel: make([]float32, u.out*fanIn)}
		for i := range cb.Kernel {
			cb.Kernel[i] = float32(r.NormFloat64() * std)
		}
		cb.Gamma, cb.Beta, cb.Mean, cb.Var = make([]float32, u.out), make([]float32, u.out), make([]float32, u.out), make([]float32, u.out)
		for o := 0; o < u.out; o++ {
			cb.Gamma[o] = float32(1 + 0.1*r.NormFloat64())
			cb.Beta[o] = float32(0.1 * r.NormFloat64())
			cb.Mean[o] = float32(0.1 * r.NormFloat64())
			cb.Var[o] = float32(0.5 + r.Float64())
		}
		w.Units[u.name] = cb
	}
	return w
}

// Save writes the weights with torchvision names (plus a zero classifier head so the file holds every
// expected key).
func (w *Weights) Save(path string) error {
	var ts []safetensors.Float32Tensor
	for _, u := range inceptionUnits() {
		cb, ok := w.Units[u.name]
		if !ok {
			return fmt.Errorf("saving FID Inception weights: unit %s missing", u.name)
		}
		ts = append(ts, safetensors.Float32Tensor{Name: u.name + ".conv.weight", Shape: []int{u.out, u.in, u.kh, u.kw}, Data: cb.Kernel})
		for i, v := range [][]float32{cb.Gamma, cb.Beta, cb.Mean, cb.Var} {
			ts = append(ts, safetensors.Float32Tensor{Name: u.name + bnSuffixes[i], Shape: []int{u.out}, Data: v})
		}
	}
	ts = append(ts,
		safetensors.Float32Tensor{Name: "fc.weight", Shape: []int{1008, FeatureDim}, Data: make([]float32, 1008*FeatureDim)},
		safetensors.Float32Tensor{Name: "fc.bias", Shape: []int{1008}, Data: make([]float32, 1008)})
	return safetensors.WriteFloat32File(path, ts)
}

// fold turns a conv unit and its BatchNorm into an im2col matrix [kh*kw*in, out] (row index
// (ky*kw+kx)*in+i, matching the patch layout of conv2d) and a bias:
// y = conv(x, W·s) + (β − μ·s) with s = γ/√(σ²+ε).
func (w *Weights) fold(u convSpec) (kernel, bias []float32, err error) {
	cb, ok := w.Units[u.name]
	if !ok {
		return nil, nil, fmt.Errorf("FID Inception weights lack unit %s", u.name)
	}
	k := u.kh * u.kw * u.in
	if len(cb.Kernel) != u.out*k || len(cb.Gamma) != u.out || len(cb.Beta) != u.out || len(cb.Mean) != u.out || len(cb.Var) != u.out {
		return nil, nil, fmt.Errorf("FID Inception unit %s has tensors of the wrong size", u.name)
	}
	kernel = make([]float32, k*u.out)
	bias = make([]float32, u.out)
	for o := 0; o < u.out; o++ {
		s := float64(cb.Gamma[o]) / math.Sqrt(float64(cb.Var[o])+bnEpsilon)
		bias[o] = float32(float64(cb.Beta[o]) - float64(cb.Mean[o])*s)
		for i := 0; i < u.in; i++ {
			for ky := 0; ky < u.kh; ky++ {
				for kx := 0; kx < u.kw; kx++ {
					v := float64(cb.Kernel[((o*u.in+i)*u.kh+ky)*u.kw+kx]) * s
					kernel[((ky*u.kw+kx)*u.in+i)*u.out+o] = float32(v)
				}
			}
		}
	}
	return kernel, bias, nil
}
