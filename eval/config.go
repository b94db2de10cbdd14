package eval

import (
	"fmt"
	"strings"
)

// Config is the `eval:` section of a sprint config: where the metric weights and data live and how
// the evaluation jobs run. Paths are local; nothing is downloaded.
type Config struct {
	// InceptionWeights is the FID Inception as safetensors with pytorch-fid's state-dict names
	// (a conversion of pt_inception-2015-12-05-6726825d.pth; see `sprint eval fid --help`).
	InceptionWeights string `mapstructure:"inception_weights"`
	// CLIPWeights is a Hugging Face CLIPModel model.safetensors (openai/clip-vit-large-patch14 for
	// SANA's CLIP score and GenEval's colours).
	CLIPWeights string `mapstructure:"clip_weights"`
	// CLIPTokenizer is a folder (or file) with vocab.json+merges.txt, tokenizer.json or
	// bpe_simple_vocab_16e6.txt.gz; empty means the folder of clip_weights.
	CLIPTokenizer string `mapstructure:"clip_tokenizer"`
	// CLIPModel is the CLIP variant the weights must be: "ViT-L/14" or "ViT-B/32".
	CLIPModel string `mapstructure:"clip_model"`
	// BatchSize is the number of images per network call.
	BatchSize int `mapstructure:"batch_size"`
	// Workers is the number of image-decoding goroutines; 0 means one per CPU.
	Workers int `mapstructure:"workers"`
	// ImageSize selects the FID preprocessing. N > 0 is SANA's MJHQ-30K protocol: torchvision
	// Resize(N)+CenterCrop(N) (PIL bilinear, antialiased) before the Inception's own bilinear resize to
	// 299; 1024, the default, is the img_size of the 1024px results. 0 is plain pytorch-fid: images go
	// to the 299 resize as they are.
	ImageSize int `mapstructure:"image_size"`

	// MJHQRoot is the MJHQ-30K folder holding meta_data.json.
	MJHQRoot string `mapstructure:"mjhq_root"`
	// ReferenceDir holds the reference images as <category>/<key>.jpg; empty means <mjhq_root>/imgs
	// when it exists, else <mjhq_root>.
	ReferenceDir string `mapstructure:"reference_dir"`
	// GeneratedDir holds the generated images as <key>.jpg (or .png).
	GeneratedDir string `mapstructure:"generated_dir"`
	// Categories restricts the job to these MJHQ categories; empty means all ten.
	Categories []string `mapstructure:"categories"`
	// SampleNums takes the first N keys of meta_data.json in file order (SANA's sample_nums); 0 = all.
	SampleNums int `mapstructure:"sample_nums"`
	// CacheDir keeps reference statistics and per-image features so an interrupted job resumes.
	CacheDir string `mapstructure:"cache_dir"`
	// OutputDir receives the JSON and Markdown reports.
	OutputDir string `mapstructure:"output_dir"`

	// GenEvalMetadata is GenEval's prompts/evaluation_metadata.jsonl.
	GenEvalMetadata string `mapstructure:"geneval_metadata"`
	// GenEvalDetections is the detections JSONL an external detector wrote for the GenEval images.
	GenEvalDetections string `mapstructure:"geneval_detections"`
	// GenEvalThreshold is the detection confidence threshold (strictly greater).
	GenEvalThreshold float64 `mapstructure:"geneval_threshold"`
	// GenEvalCountingThreshold is the threshold of the counting task.
	GenEvalCountingThreshold float64 `mapstructure:"geneval_counting_threshold"`
	// GenEvalMaxObjects is the number of detections kept per class.
	GenEvalMaxObjects int `mapstructure:"geneval_max_objects"`
	// GenEvalPositionThreshold is the relative-position margin.
	GenEvalPositionThreshold float64 `mapstructure:"geneval_position_threshold"`
	// GenEvalMaxOverlap is GenEval's max_overlap, its per-class greedy NMS: a detection whose IoU with
	// an already kept one of its class is >= this value is dropped. 1, GenEval's default, disables NMS;
	// 0 keeps only the best detection of each class.
	GenEvalMaxOverlap float64 `mapstructure:"geneval_max_overlap"`
}

// DefaultConfig returns the protocol's defaults (reference notes: evaluation-protocols.md).
func DefaultConfig() Config {
	return Config{
		CLIPModel:                "ViT-L/14",
		BatchSize:                16,
		ImageSize:                1024,
		CacheDir:                 "runs/eval-cache",
		OutputDir:                "runs/eval",
		GenEvalThreshold:         0.3,
		GenEvalCountingThreshold: 0.9,
		GenEvalMaxObjects:        16,
		GenEvalPositionThreshold: 0.1,
		GenEvalMaxOverlap:        1,
	}
}

// MJHQCategories are MJHQ-30K's ten categories.
var MJHQCategories = []string{"animals", "art", "fashion", "food", "indoor", "landscape", "logo", "people", "plants", "vehicles"}

// Validate checks the values (not the existence of files, which each job checks when it needs them).
func (c Config) Validate() error {
	var errs []string
	if c.CLIPModel != "ViT-L/14" && c.CLIPModel != "ViT-B/32" {
		errs = append(errs, fmt.Sprintf("eval.clip_model: %q is not ViT-L/14 or ViT-B/32", c.CLIPModel))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Sprintf("eval.batch_size: %d, want >= 1", c.BatchSize))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Sprintf("eval.workers: %d, want >= 0", c.Workers))
	}
	if c.ImageSize < 0 {
		errs = append(errs, fmt.Sprintf("eval.image_size: %d, want >= 0", c.ImageSize))
	}
	if c.SampleNums < 0 {
		errs = append(errs, fmt.Sprintf("eval.sample_nums: %d, want >= 0", c.SampleNums))
	}
	for _, cat := range c.Categories {
		known := false
		for _, k := range MJHQCategories {
			known = known || cat == k
		}
		if !known {
			errs = append(errs, fmt.Sprintf("eval.categories: unknown category %q (known: %s)", cat, strings.Join(MJHQCategories, ", ")))
		}
	}
	for key, v := range map[string]float64{"eval.geneval_threshold": c.GenEvalThreshold,
		"eval.geneval_counting_threshold": c.GenEvalCountingThreshold} {
		if v < 0 || v >= 1 {
			errs = append(errs, fmt.Sprintf("%s: %v, want in [0, 1)", key, v))
		}
	}
	if c.GenEvalMaxObjects < 1 {
		errs = append(errs, fmt.Sprintf("eval.geneval_max_objects: %d, want >= 1", c.GenEvalMaxObjects))
	}
	if c.GenEvalPositionThreshold < 0 {
		errs = append(errs, fmt.Sprintf("eval.geneval_position_threshold: %v, want >= 0", c.GenEvalPositionThreshold))
	}
	if !(c.GenEvalMaxOverlap >= 0) { // NaN fails too
		errs = append(errs, fmt.Sprintf("eval.geneval_max_overlap: %v, want >= 0 (1 disables NMS)", c.GenEvalMaxOverlap))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
