package job

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/decode"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/eval/shapes"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/train"
)

// ValidationPrompts is how many dataset rows the validation grids show.
const ValidationPrompts = 8

// TeacherValidationSteps is the number of Euler steps of the teacher's validation samples.
const TeacherValidationSteps = 20

// Prompts are captions with their embeddings, for sampling.
type Prompts struct {
	Texts  []string
	Text   *tensors.Tensor // (n, L, D)
	Mask   *tensors.Tensor // (n, L)
	Scenes []data.Scene    // ground truth, for the shapes dataset (else nil)
}

// DatasetPrompts reads the first n rows of the dataset as prompts.
func DatasetPrompts(ctx context.Context, r *data.Reader, n int) (Prompts, [3]int, error) {
	var p Prompts
	n = min(n, r.Len())
	if n == 0 {
		return p, [3]int{}, fmt.Errorf("data: no rows to take validation prompts from")
	}
	var text, mask []float32
	var ls [3]int
	var ts [2]int
	for i := range n {
		row, err := r.ReadRow(ctx, r.Ref(i))
		if err != nil {
			return p, ls, err
		}
		if i == 0 {
			ls, ts = row.LatentShape, row.TextShape
		}
		p.Texts = append(p.Texts, row.Prompt)
		text = append(text, row.TextEmbedding...)
		mask = append(mask, row.TextMask...)
		if row.Meta != "" {
			if sc, err := data.ParseScene(row.Meta); err == nil {
				p.Scenes = append(p.Scenes, sc)
			}
		}
	}
	if len(p.Scenes) != n {
		p.Scenes = nil
	}
	p.Text = tensors.FromFlatDataAndDimensions(text, n, ts[0], ts[1])
	p.Mask = tensors.FromFlatDataAndDimensions(mask, n, ts[0])
	return p, ls, nil
}

// FixedNoise is unit Gaussian noise (n, C, H, W) from a seed: the same seed, the same noise.
func FixedNoise(seed uint64, n int, shape [3]int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	v := make([]float32, n*shape[0]*shape[1]*shape[2])
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, n, shape[0], shape[1], shape[2])
}

// DecoderFor returns the shapes dataset's exact decoder for its shards, and otherwise a preview
// of the first three latent channels.
func DecoderFor(r *data.Reader) decode.Decoder {
	if _, ok, _ := ShapesConfigOf(r); ok {
		return decode.Shapes
	}
	return decode.Preview
}

// GuidanceScale is the w used for validation and the demo's samples: the middle of the
// configured CFG scales (4.5 for the reference's [4, 4.5, 5]), or 1 without CFG.
func GuidanceScale(d distill.Config) float64 {
	if len(d.CfgScales) == 0 {
		return 1
	}
	return d.CfgScales[len(d.CfgScales)/2]
}

// newValidator returns the hook that samples the validation prompts with fixed noise: the student
// at 1 and 2 steps for a distillation, the teacher at TeacherValidationSteps for teacher training.
// On the shapes dataset it also logs the exact-detector accuracy of those images.
func newValidator(backend compute.Backend, cfg *config.Config, mcfg model.Config, kind Kind, r *data.Reader, null *tensors.Tensor) (train.Validator, error) {
	if cfg.Control.Enabled {
		return newControlValidator(backend, cfg, mcfg, kind, r, null) // control.go
	}
	prompts, latentShape, err := DatasetPrompts(context.Background(), r, ValidationPrompts)
	if err != nil {
		return nil, err
	}
	noise := FixedNoise(0, len(prompts.Texts), latentShape)
	decoder := DecoderFor(r)
	if cfg.Data.VAE != "" {
		// The DC-AE is opened at the first validation, so a run that never validates never loads it.
		decoder = lazyDecoder(backend, cfg.Data.VAE)
	}
	w := GuidanceScale(cfg.Distill)
	teacher := func(groups map[string]train.Group) (*tensors.Tensor, error) {
		return distill.SampleTeacher(backend, mcfg, model.Params(groups[distill.TeacherGroup]), prompts.Text, prompts.Mask, null, noise,
			distill.TeacherSampling{Steps: TeacherValidationSteps, CFGScale: w})
	}
	student := func(groups map[string]train.Group, steps int) (*tensors.Tensor, error) {
		return distill.SampleStudent(backend, mcfg, model.Params(groups[distill.StudentGroup]), prompts.Text, prompts.Mask, noise,
			distill.StudentSampling{Steps: steps, Guidance: w, Seed: 0})
	}
	return samplingValidator(kind, prompts, decoder, "", false, teacher, student), nil
}

// samplingValidator is a validation hook that samples the validation prompts: the teacher
// (teacher_<suffix>_<n>step, by TeacherValidationSteps steps) for teacher training, the student
// at 1 and 2 steps (student<suffix>_<n>step) for a distillation. It decodes them and, on the
// shapes dataset, logs the exact-detector accuracy (<name>_exact) and, with place, the
// placement score (<name>_placed).
func samplingValidator(kind Kind, prompts Prompts, decoder decode.Decoder, suffix string, place bool,
	teacher func(groups map[string]train.Group) (*tensors.Tensor, error),
	student func(groups map[string]train.Group, steps int) (*tensors.Tensor, error)) train.Validator {
	return train.ValidatorFunc(func(ctx context.Context, step int64, groups map[string]train.Group) (train.Validation, error) {
		v := train.Validation{Images: map[string][]image.Image{}, Scalars: map[string]float64{}, Columns: len(prompts.Texts)}
		add := func(name string, lat *tensors.Tensor) error {
			imgs, err := decoder.Decode(lat)
			if err != nil {
				return err
			}
			v.Images[name] = imgs
			if prompts.Scenes != nil {
				det := shapes.DefaultDetector()
				var rs []shapes.Result
				var ps []shapes.Placement
				for i, im := range imgs {
					dets := det.Detect(im)
					rs = append(rs, shapes.Score(prompts.Scenes[i], dets))
					if place {
						ps = append(ps, shapes.Place(prompts.Scenes[i], dets))
					}
				}
				v.Scalars[name+"_exact"] = shapes.Aggregate(rs).Exact
				if place {
					v.Scalars[name+"_placed"] = shapes.AggregatePlacement(ps).Placed
				}
			}
			return nil
		}
		switch kind {
		case Teacher:
			lat, err := teacher(groups)
			if err != nil {
				return v, err
			}
			if err := add(fmt.Sprintf("teacher%s_%dstep", suffix, TeacherValidationSteps), lat); err != nil {
				return v, err
			}
		case Distill:
			for _, steps := range []int{1, 2} {
				lat, err := student(groups, steps)
				if err != nil {
					return v, err
				}
				if err := add(fmt.Sprintf("student%s_%dstep", suffix, steps), lat); err != nil {
					return v, err
				}
			}
		}
		return v, nil
	})
}

// lazyDecoder opens the DC-AE of vaeDir on first use and keeps it for the run.
func lazyDecoder(backend compute.Backend, vaeDir string) decode.Decoder {
	var dec decode.Decoder
	var openErr error
	return decode.Func(func(l *tensors.Tensor) ([]image.Image, error) {
		if dec == nil && openErr == nil {
			dec, _, openErr = OpenDecoder(backend, DecoderDCAE, vaeDir)
			if openErr != nil {
				openErr = fmt.Errorf("data.vae: %w", openErr)
			}
		}
		if openErr != nil {
			return nil, openErr
		}
		return dec.Decode(l)
	})
}
