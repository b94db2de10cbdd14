package fid

import "fmt"

// convSpec is one BasicConv2d unit (Conv2d without bias -> BatchNorm2d(eps=1e-3) -> ReLU) of the
// FID Inception, named as in torchvision's Inception3 state dict.
type convSpec struct {
	name            string
	in, out, kh, kw int
	stride, ph, pw  int
}

// bnEpsilon is BatchNorm2d's eps in torchvision's BasicConv2d (reference notes §1.2).
const bnEpsilon = 1e-3

func unit(name string, in, out, kh, kw, stride, ph, pw int) convSpec {
	return convSpec{name: name, in: in, out: out, kh: kh, kw: kw, stride: stride, ph: ph, pw: pw}
}

func blockA(p string, in, poolFeatures int) []convSpec {
	return []convSpec{
		unit(p+".branch1x1", in, 64, 1, 1, 1, 0, 0),
		unit(p+".branch5x5_1", in, 48, 1, 1, 1, 0, 0),
		unit(p+".branch5x5_2", 48, 64, 5, 5, 1, 2, 2),
		unit(p+".branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0),
		unit(p+".branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1),
		unit(p+".branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1),
		unit(p+".branch_pool", in, poolFeatures, 1, 1, 1, 0, 0),
	}
}

func blockB(p string, in int) []convSpec {
	return []convSpec{
		unit(p+".branch3x3", in, 384, 3, 3, 2, 0, 0),
		unit(p+".branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0),
		unit(p+".branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1),
		unit(p+".branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0),
	}
}

func blockC(p string, c7 int) []convSpec {
	return []convSpec{
		unit(p+".branch1x1", 768, 192, 1, 1, 1, 0, 0),
		unit(p+".branch7x7_1", 768, c7, 1, 1, 1, 0, 0),
		unit(p+".branch7x7_2", c7, c7, 1, 7, 1, 0, 3),
		unit(p+".branch7x7_3", c7, 192, 7, 1, 1, 3, 0),
		unit(p+".branch7x7dbl_1", 768, c7, 1, 1, 1, 0, 0),
		unit(p+".branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0),
		unit(p+".branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3),
		unit(p+".branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0),
		unit(p+".branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3),
		unit(p+".branch_pool", 768, 192, 1, 1, 1, 0, 0),
	}
}

func blockD(p string) []convSpec {
	return []convSpec{
		unit(p+".branch3x3_1", 768, 192, 1, 1, 1, 0, 0),
		unit(p+".branch3x3_2", 192, 320, 3, 3, 2, 0, 0),
		unit(p+".branch7x7x3_1", 768, 192, 1, 1, 1, 0, 0),
		unit(p+".branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3),
		unit(p+".branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0),
		unit(p+".branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0),
	}
}

func blockE(p string, in int) []convSpec {
	return []convSpec{
		unit(p+".branch1x1", in, 320, 1, 1, 1, 0, 0),
		unit(p+".branch3x3_1", in, 384, 1, 1, 1, 0, 0),
		unit(p+".branch3x3_2a", 384, 384, 1, 3, 1, 0, 1),
		unit(p+".branch3x3_2b", 384, 384, 3, 1, 1, 1, 0),
		unit(p+".branch3x3dbl_1", in, 448, 1, 1, 1, 0, 0),
		unit(p+".branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1),
		unit(p+".branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1),
		unit(p+".branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0),
		unit(p+".branch_pool", in, 192, 1, 1, 1, 0, 0),
	}
}

// inceptionUnits lists the 94 conv units in network order (reference notes §1.2).
func inceptionUnits() []convSpec {
	var u []convSpec
	u = append(u,
		unit("Conv2d_1a_3x3", 3, 32, 3, 3, 2, 0, 0),
		unit("Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0),
		unit("Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1),
		unit("Conv2d_3b_1x1", 64, 80, 1, 1, 1, 0, 0),
		unit("Conv2d_4a_3x3", 80, 192, 3, 3, 1, 0, 0),
	)
	u = append(u, blockA("Mixed_5b", 192, 32)...)
	u = append(u, blockA("Mixed_5c", 256, 64)...)
	u = append(u, blockA("Mixed_5d", 288, 64)...)
	u = append(u, blockB("Mixed_6a", 288)...)
	u = append(u, blockC("Mixed_6b", 128)...)
	u = append(u, blockC("Mixed_6c", 160)...)
	u = append(u, blockC("Mixed_6d", 160)...)
	u = append(u, blockC("Mixed_6e", 192)...)
	u = append(u, blockD("Mixed_7a")...)
	u = append(u, blockE("Mixed_7b", 1280)...)
	u = append(u, blockE("Mixed_7c", 2048)...)
	return u
}

// bnSuffixes are the per-unit state-dict entries besides the conv kernel.
var bnSuffixes = []string{".bn.weight", ".bn.bias", ".bn.running_mean", ".bn.running_var"}

// ExpectedKeys lists every tensor name of pytorch-fid's FID Inception state dict
// (pt_inception-2015-12-05-6726825d.pth): 94 conv+BN units of 5 tensors each, plus the unused 1008-way
// classifier fc.weight and fc.bias; 472 in all. bn.num_batches_tracked entries, present in some
// conversions, are ignored.
func ExpectedKeys() []string {
	var keys []string
	for _, u := range inceptionUnits() {
		keys = append(keys, u.name+".conv.weight")
		for _, s := range bnSuffixes {
			keys = append(keys, u.name+s)
		}
	}
	return append(keys, "fc.weight", "fc.bias")
}

// keyShape returns the expected shape of a state-dict key.
func keyShape(key string) ([]int, error) {
	switch key {
	case "fc.weight":
		return []int{1008, FeatureDim}, nil
	case "fc.bias":
		return []int{1008}, nil
	}
	for _, u := range inceptionUnits() {
		if key == u.name+".conv.weight" {
			return []int{u.out, u.in, u.kh, u.kw}, nil
		}
		for _, s := range bnSuffixes {
			if key == u.name+s {
				return []int{u.out}, nil
			}
		}
	}
	return nil, fmt.Errorf("unknown FID Inception key %q", key)
}

// wrapperPrefixes maps the module paths of pytorch-fid's InceptionV3 wrapper (whose state dict nests
// the same modules under blocks.N.M) to torchvision's names.
var wrapperPrefixes = map[string]string{
	"blocks.0.0": "Conv2d_1a_3x3", "blocks.0.1": "Conv2d_2a_3x3", "blocks.0.2": "Conv2d_2b_3x3",
	"blocks.1.0": "Conv2d_3b_1x1", "blocks.1.1": "Conv2d_4a_3x3",
	"blocks.2.0": "Mixed_5b", "blocks.2.1": "Mixed_5c", "blocks.2.2": "Mixed_5d", "blocks.2.3": "Mixed_6a",
	"blocks.2.4": "Mixed_6b", "blocks.2.5": "Mixed_6c", "blocks.2.6": "Mixed_6d", "blocks.2.7": "Mixed_6e",
	"blocks.3.0": "Mixed_7a", "blocks.3.1": "Mixed_7b", "blocks.3.2": "Mixed_7c",
}
