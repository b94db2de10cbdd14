package demo

import (
	"errors"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/eval/fid"
	"github.com/sprint-distill/sprint/eval/shapes"
	"github.com/sprint-distill/sprint/job"
)

// ensureShapes makes the shapes shards at data.paths[0] unless shards are there already; shards
// that are there must have been made with the config's data.shapes settings (ContentDiff), or
// the teacher would be distilled on captions embedded another way.
func ensureShapes(cfg *config.Config, out io.Writer) error {
	if len(cfg.Data.Paths) == 0 {
		return errors.New("data.paths: the demo needs a folder for the shapes shards")
	}
	dir := cfg.Data.Paths[0]
	if matches, _ := filepath.Glob(filepath.Join(dir, "shapes-*")); len(matches) > 0 {
		r, err := data.Open([]string{dir}, data.ReaderOptions{BatchSize: 1})
		if err != nil {
			return err
		}
		defer r.Close()
		made, ok := data.ShapesConfigOf(r.Metadata(0))
		if !ok {
			return fmt.Errorf("data.paths: %s holds shards that are not a shapes dataset; give the demo an empty folder", dir)
		}
		if diff := cfg.Data.Shapes.ContentDiff(made); len(diff) > 0 {
			return fmt.Errorf("data.paths: the shards in %s were made with %s; delete the folder (the demo remakes it) or point data.paths at another one",
				dir, strings.Join(diff, ", "))
		}
		return nil
	}
	fmt.Fprintf(out, "demo: making %d shapes samples in %s\n", cfg.Data.Shapes.NumSamples, dir)
	return data.MakeShapes(cfg.Data.Shapes, dir)
}

// heldOut is what both demos sample and score on: the held-out scenes (demo.prompts of them)
// with their captions encoded, the unconditional caption, the fixed noise, the guidance scale
// and the statistics of the reference images.
type heldOut struct {
	held             data.ShapesConfig // the shapes config with the held-out seed
	scenes           []data.Scene
	prompts          []string
	text, mask, null *tensors.Tensor
	noise            *tensors.Tensor
	guidance         float64
	det              shapes.Detector
	ref              *fid.Stats
}

func newHeldOut(cfg *config.Config) (*heldOut, error) {
	dc, sc := cfg.Demo, cfg.Data.Shapes
	h := &heldOut{held: sc, det: shapes.DefaultDetector()}
	h.held.Seed = sc.Seed + dc.HeldOutSeed
	enc, err := sc.TextEncoder()
	if err != nil {
		return nil, err
	}
	h.scenes = make([]data.Scene, dc.Prompts)
	for i := range h.scenes {
		h.scenes[i] = data.SampleScene(h.held, i)
		h.prompts = append(h.prompts, data.Caption(h.scenes[i]))
	}
	h.text, h.mask = enc.EncodeText(h.prompts)
	h.null, _ = enc.EncodeText([]string{""})
	var refFeatures [][]float32
	for i := range dc.ReferenceImages {
		img, err := data.RenderScene(data.SampleScene(h.held, dc.Prompts+i))
		if err != nil {
			return nil, err
		}
		refFeatures = append(refFeatures, toFloat32(h.det.Features(img)))
	}
	if h.ref, err = fid.ComputeStats(refFeatures); err != nil {
		return nil, fmt.Errorf("reference statistics: %w", err)
	}
	h.noise = job.FixedNoise(uint64(dc.NoiseSeed), dc.Prompts, sc.LatentShape())
	h.guidance = job.GuidanceScale(cfg.Distill)
	return h, nil
}

// scored is one sampling of the held-out prompts, decoded and measured.
type scored struct {
	images    []image.Image // the first grid ones
	fd        float64
	acc       shapes.Accuracy
	placement shapes.PlacementAccuracy // when asked for
}

// score decodes latents of the held-out prompts and measures them: the Fréchet distance to
// the reference images, the compositional accuracy and, with place, the placement accuracy.
func (h *heldOut) score(lat *tensors.Tensor, grid int, place bool) (scored, error) {
	var s scored
	imgs, err := data.DecodeLatents(lat)
	if err != nil {
		return s, err
	}
	var feats [][]float32
	var rs []shapes.Result
	var ps []shapes.Placement
	for i, im := range imgs {
		dets := h.det.Detect(im)
		feats = append(feats, toFloat32(h.det.Features(im)))
		rs = append(rs, shapes.Score(h.scenes[i], dets))
		if place {
			ps = append(ps, shapes.Place(h.scenes[i], dets))
		}
		if i < grid {
			s.images = append(s.images, im)
		}
	}
	st, err := fid.ComputeStats(feats)
	if err != nil {
		return s, err
	}
	if s.fd, err = fid.FrechetDistance(st, h.ref); err != nil {
		return s, err
	}
	s.acc = shapes.Aggregate(rs)
	if place {
		s.placement = shapes.AggregatePlacement(ps)
	}
	return s, nil
}
