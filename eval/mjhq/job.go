package mjhq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/sprint-distill/sprint/eval/clip"
	"github.com/sprint-distill/sprint/eval/fid"
	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/featcache"
	"github.com/sprint-distill/sprint/eval/internal/pipeline"
	"github.com/sprint-distill/sprint/internal/filename"
	"golang.org/x/sync/errgroup"
)

// FeatureModel embeds images for FID (fid.Extractor is the real one).
type FeatureModel interface {
	Dim() int
	Features(imgs []*imaging.RGB8) ([][]float32, error)
}

// CLIPScorer gives image–prompt cosines (clip.Scorer is the real one).
type CLIPScorer interface {
	Cosines(imgs []*imaging.RGB8, prompts []string) ([]float64, error)
	LogitScale() float64
}

// Job is one MJHQ-30K evaluation of a folder of generated images.
type Job struct {
	Entries      []Entry
	ReferenceDir string // <category>/<key>.jpg
	GeneratedDir string // <key>.jpg
	CacheDir     string // reference statistics and per-image features, for resuming
	OutputDir    string // reports; empty writes none

	FID     FeatureModel
	FIDName string // identifies the FID model and preprocessing in cache names, e.g. "inception-1024px"
	CLIP    CLIPScorer
	// CLIPName identifies the CLIP model in cache names; nil CLIP skips the CLIP score.
	CLIPName string

	BatchSize, Workers int
	Progress           io.Writer
}

// CategoryReport holds one category's metrics (FID over that category's images only, so with N≈3K it
// is not comparable to the overall 30K FID).
type CategoryReport struct {
	Category          string   `json:"category"`
	Images            int      `json:"images"`
	FID               *float64 `json:"fid,omitempty"`
	CLIPScore         *float64 `json:"clip_score,omitempty"`
	CLIPScoreTorchMet *float64 `json:"clip_score_torchmetrics,omitempty"`
}

// Report is the result of a Job.
type Report struct {
	Images            int              `json:"images"`
	GeneratedDir      string           `json:"generated_dir"`
	ReferenceDir      string           `json:"reference_dir"`
	FIDModel          string           `json:"fid_model"`
	CLIPModel         string           `json:"clip_model,omitempty"`
	FID               float64          `json:"fid"`
	CLIPScore         *float64         `json:"clip_score,omitempty"`
	CLIPScoreTorchMet *float64         `json:"clip_score_torchmetrics,omitempty"`
	ReferenceStats    string           `json:"reference_stats"`
	Categories        []CategoryReport `json:"categories"`
}

func fileKey(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s|%d|%d", filepath.Base(path), st.Size(), st.ModTime().UnixNano()), nil
}

func hashStrings(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// embed returns one vector per path, computing only what the cache lacks and appending results to
// it after every batch.
func (j *Job) embed(ctx context.Context, label, cachePath string, dim int, paths []string,
	run func(imgs []*imaging.RGB8, idx []int) ([][]float32, error)) ([][]float32, error) {
	cache, err := featcache.Open(cachePath, dim)
	if err != nil {
		return nil, err
	}
	defer cache.Close()
	keys := make([]string, len(paths))
	var todo []int
	for i, p := range paths {
		if keys[i], err = fileKey(p); err != nil {
			return nil, err
		}
		if _, ok := cache.Get(keys[i]); !ok {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		if n := len(paths) - len(todo); n > 0 && j.Progress != nil {
			fmt.Fprintf(j.Progress, "%s: %d of %d images cached, computing %d\n", label, n, len(paths), len(todo))
		}
		todoPaths := make([]string, len(todo))
		for k, i := range todo {
			todoPaths[k] = paths[i]
		}
		err = pipeline.Images(ctx, todoPaths, pipeline.Options{BatchSize: j.BatchSize, Workers: j.Workers}, j.Progress, label,
			func(start int, imgs []*imaging.RGB8) error {
				idx := todo[start : start+len(imgs)]
				vecs, err := run(imgs, idx)
				if err != nil {
					return fmt.Errorf("%s: %w", label, err)
				}
				for k, v := range vecs {
					if err := cache.Put(keys[idx[k]], v); err != nil {
						return err
					}
				}
				return cache.Flush()
			})
		if err != nil {
			return nil, err
		}
	}
	out := make([][]float32, len(paths))
	for i := range paths {
		out[i], _ = cache.Get(keys[i])
	}
	return out, nil
}

func groupStats(entries []Entry, feats [][]float32, dim int) (*fid.Stats, map[string]*fid.Stats, error) {
	all := fid.NewAccumulator(dim)
	per := map[string]*fid.Accumulator{}
	for i, e := range entries {
		if err := all.Add(feats[i]); err != nil {
			return nil, nil, err
		}
		if per[e.Category] == nil {
			per[e.Category] = fid.NewAccumulator(dim)
		}
		if err := per[e.Category].Add(feats[i]); err != nil {
			return nil, nil, err
		}
	}
	overall, err := all.Stats()
	if err != nil {
		return nil, nil, err
	}
	cats := map[string]*fid.Stats{}
	for c, acc := range per {
		if acc.N() >= 2 {
			if cats[c], err = acc.Stats(); err != nil {
				return nil, nil, err
			}
		}
	}
	return overall, cats, nil
}

func categoriesOf(entries []Entry) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		if !seen[e.Category] {
			seen[e.Category] = true
			out = append(out, e.Category)
		}
	}
	sort.Strings(out)
	return out
}

// referenceStats loads the cached reference statistics or computes them (resumably) and caches them.
func (j *Job) referenceStats(ctx context.Context, dir string) (*fid.Stats, map[string]*fid.Stats, string, error) {
	keys := make([]string, len(j.Entries))
	for i, e := range j.Entries {
		keys[i] = e.Category + "/" + e.Key
	}
	tag := hashStrings(append([]string{j.FIDName, ReferenceDirAbs(j.ReferenceDir)}, keys...)...)
	base := filepath.Join(dir, fmt.Sprintf("MJHQ_30K_%s_fid_embeddings_%d_%s", filename.Safe(j.FIDName, '-'), len(j.Entries), tag))
	overallPath := base + ".npz"
	cats := categoriesOf(j.Entries)
	catPath := func(c string) string { return base + "_" + filename.Safe(c, '-') + ".npz" }
	if overall, err := fid.LoadStats(overallPath); err == nil {
		per := map[string]*fid.Stats{}
		complete := true
		for _, c := range cats {
			s, err := fid.LoadStats(catPath(c))
			if err != nil {
				complete = false
				break
			}
			per[c] = s
		}
		if complete {
			if j.Progress != nil {
				fmt.Fprintf(j.Progress, "reference statistics from %s\n", overallPath)
			}
			return overall, per, overallPath, nil
		}
	}
	paths := make([]string, len(j.Entries))
	for i, e := range j.Entries {
		paths[i] = ReferencePath(j.ReferenceDir, e)
	}
	feats, err := j.embed(ctx, "fid reference", base+".features", j.FID.Dim(), paths,
		func(imgs []*imaging.RGB8, _ []int) ([][]float32, error) { return j.FID.Features(imgs) })
	if err != nil {
		return nil, nil, "", err
	}
	overall, per, err := groupStats(j.Entries, feats, j.FID.Dim())
	if err != nil {
		return nil, nil, "", fmt.Errorf("reference statistics: %w", err)
	}
	if err := overall.Save(overallPath); err != nil {
		return nil, nil, "", err
	}
	for c, s := range per {
		if err := s.Save(catPath(c)); err != nil {
			return nil, nil, "", err
		}
	}
	return overall, per, overallPath, nil
}

// ReferenceDirAbs is the absolute form of dir (for cache identities), or dir itself when that fails.
func ReferenceDirAbs(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return dir
}

func checkFiles(paths []string, what string) error {
	var missing []string
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d %s images missing, e.g. %s", len(missing), what, missing[0])
	}
	return nil
}

// Run evaluates the job: reference statistics (cached), generated features and CLIP cosines (cached
// per image), overall and per-category FID and CLIP score; it writes mjhq_report.json and .md.
func (j *Job) Run(ctx context.Context) (*Report, error) {
	if len(j.Entries) < 2 {
		return nil, fmt.Errorf("MJHQ-30K job needs at least 2 entries, has %d", len(j.Entries))
	}
	if j.FID == nil {
		return nil, errors.New("MJHQ-30K job needs the FID Inception")
	}
	cacheDir := filepath.Join(j.CacheDir, "mjhq")
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	refPaths := make([]string, len(j.Entries))
	genPaths := make([]string, len(j.Entries))
	for i, e := range j.Entries {
		refPaths[i] = ReferencePath(j.ReferenceDir, e)
		p, err := GeneratedPath(j.GeneratedDir, e)
		if err != nil {
			return nil, err
		}
		genPaths[i] = p
	}
	if err := checkFiles(refPaths, "reference"); err != nil {
		return nil, fmt.Errorf("%w (the MJHQ-30K images are mjhq30k_imgs.zip of playgroundai/MJHQ-30K, unzipped to <category>/<key>.jpg)", err)
	}
	refAll, refCat, refPath, err := j.referenceStats(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	genTag := hashStrings(j.FIDName, ReferenceDirAbs(j.GeneratedDir))
	genFeats, err := j.embed(ctx, "fid generated", filepath.Join(cacheDir, "generated_"+filename.Safe(j.FIDName, '-')+"_"+genTag+".features"),
		j.FID.Dim(), genPaths, func(imgs []*imaging.RGB8, _ []int) ([][]float32, error) { return j.FID.Features(imgs) })
	if err != nil {
		return nil, err
	}
	genAll, genCat, err := groupStats(j.Entries, genFeats, j.FID.Dim())
	if err != nil {
		return nil, fmt.Errorf("generated statistics: %w", err)
	}

	rep := &Report{Images: len(j.Entries), GeneratedDir: j.GeneratedDir, ReferenceDir: j.ReferenceDir,
		FIDModel: j.FIDName, ReferenceStats: refPath}
	// FIDs: overall and per category, in parallel (each is a few eigendecompositions).
	cats := categoriesOf(j.Entries)
	type fidJob struct {
		cat  string
		a, b *fid.Stats
		out  float64
		err  error
	}
	jobs := []*fidJob{{cat: "", a: refAll, b: genAll}}
	for _, c := range cats {
		if refCat[c] != nil && genCat[c] != nil {
			jobs = append(jobs, &fidJob{cat: c, a: refCat[c], b: genCat[c]})
		}
	}
	var g errgroup.Group // each task records its own error; all are reported
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, fj := range jobs {
		g.Go(func() error {
			fj.out, fj.err = fid.FrechetDistance(fj.a, fj.b)
			return nil
		})
	}
	_ = g.Wait()
	catFID := map[string]float64{}
	for _, fj := range jobs {
		if fj.err != nil {
			return nil, fmt.Errorf("FID %s: %w", fj.cat, fj.err)
		}
		if fj.cat == "" {
			rep.FID = fj.out
		} else {
			catFID[fj.cat] = fj.out
		}
	}

	catCLIP := map[string]*clip.ScoreAccumulator{}
	var allCLIP clip.ScoreAccumulator
	if j.CLIP != nil {
		rep.CLIPModel = j.CLIPName
		cosTag := hashStrings(j.CLIPName, ReferenceDirAbs(j.GeneratedDir))
		cos, err := j.embed(ctx, "clip score", filepath.Join(cacheDir, "clip_"+filename.Safe(j.CLIPName, '-')+"_"+cosTag+".cosines"), 1, genPaths,
			func(imgs []*imaging.RGB8, idx []int) ([][]float32, error) {
				prompts := make([]string, len(idx))
				for k, i := range idx {
					prompts[k] = j.Entries[i].Prompt
				}
				c, err := j.CLIP.Cosines(imgs, prompts)
				if err != nil {
					return nil, err
				}
				out := make([][]float32, len(c))
				for k, v := range c {
					out[k] = []float32{float32(v)}
				}
				return out, nil
			})
		if err != nil {
			return nil, err
		}
		for i, e := range j.Entries {
			if catCLIP[e.Category] == nil {
				catCLIP[e.Category] = &clip.ScoreAccumulator{}
			}
			catCLIP[e.Category].Add(float64(cos[i][0]))
			allCLIP.Add(float64(cos[i][0]))
		}
		s, t := allCLIP.SANA(j.CLIP.LogitScale()), allCLIP.TorchMetrics()
		rep.CLIPScore, rep.CLIPScoreTorchMet = &s, &t
	}
	for _, c := range cats {
		cr := CategoryReport{Category: c}
		for _, e := range j.Entries {
			if e.Category == c {
				cr.Images++
			}
		}
		if v, ok := catFID[c]; ok {
			cr.FID = &v
		}
		if acc := catCLIP[c]; acc != nil {
			s, t := acc.SANA(j.CLIP.LogitScale()), acc.TorchMetrics()
			cr.CLIPScore, cr.CLIPScoreTorchMet = &s, &t
		}
		rep.Categories = append(rep.Categories, cr)
	}
	if j.OutputDir != "" {
		if err := rep.Write(j.OutputDir); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// Write saves mjhq_report.json and mjhq_report.md in dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "mjhq_report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mjhq_report.md"), []byte(r.Markdown()), 0o644)
}

func fmtPtr(v *float64, format string) string {
	if v == nil || math.IsNaN(*v) {
		return "–"
	}
	return fmt.Sprintf(format, *v)
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# MJHQ-30K evaluation\n\n")
	fmt.Fprintf(&b, "- generated: `%s`\n- reference: `%s`\n- images: %d\n- FID model: %s\n", r.GeneratedDir, r.ReferenceDir, r.Images, r.FIDModel)
	if r.CLIPModel != "" {
		fmt.Fprintf(&b, "- CLIP model: %s\n", r.CLIPModel)
	}
	fmt.Fprintf(&b, "\n| | images | FID | CLIP score (SANA) | CLIP score (torchmetrics) |\n|---|---:|---:|---:|---:|\n")
	overall := r.FID
	fmt.Fprintf(&b, "| **overall** | %d | **%s** | **%s** | %s |\n", r.Images, fmtPtr(&overall, "%.3f"), fmtPtr(r.CLIPScore, "%.3f"), fmtPtr(r.CLIPScoreTorchMet, "%.3f"))
	for _, c := range r.Categories {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", c.Category, c.Images, fmtPtr(c.FID, "%.3f"), fmtPtr(c.CLIPScore, "%.3f"), fmtPtr(c.CLIPScoreTorchMet, "%.3f"))
	}
	fmt.Fprintf(&b, "\nPer-category FIDs use only that category's images and are not comparable to the overall FID; FID is biased upwards for small N, so compare only values with the same N.\n")
	return b.String()
}
