package data

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Config is the `data:` section of a run configuration.
type Config struct {
	// Paths are the shards to read: files, directories (their *.parquet and *.arrow files) or glob
	// patterns. Matches are sorted; a pattern matching nothing is an error.
	Paths []string `mapstructure:"paths"`
	// VAE is the DC-AE diffusers folder the latents were encoded with (e.g.
	// dc-ae-f32c32-sana-1.1-diffusers); validation grids are decoded through it. Empty: the
	// shapes dataset's exact decoder for shapes shards, else a preview of latent channels 0-2.
	VAE string `mapstructure:"vae"`
	// Format is the shard container, "parquet" or "arrow"; every shard must be of this format.
	Format string `mapstructure:"format"`
	// BatchSize is the number of samples per batch on each rank.
	BatchSize int `mapstructure:"batch_size"`
	// Seed fixes the shuffle: epoch e's order depends only on (seed, e).
	Seed int `mapstructure:"seed"`
	// Shuffle reshuffles every epoch; false reads shards in sorted order, rows in file order.
	Shuffle bool `mapstructure:"shuffle"`
	// Prefetch is the number of batches prepared ahead in the background (0: none).
	Prefetch int `mapstructure:"prefetch"`
	// Workers is the number of goroutines preparing batches (0: min(GOMAXPROCS, 4)).
	Workers int `mapstructure:"workers"`
	// DropLast drops each bucket's last partial batch, so every batch has batch_size samples.
	DropLast bool `mapstructure:"drop_last"`
	// CacheMB is the memory budget of decoded row groups kept for reuse, in MiB (0: none).
	CacheMB int `mapstructure:"cache_mb"`
	// LatentDType is the dtype of batch latents: float32, float16 or bfloat16.
	LatentDType string `mapstructure:"latent_dtype"`
	// TextDType is the dtype of batch text embeddings: float32, float16 or bfloat16.
	TextDType string `mapstructure:"text_dtype"`
	// Shapes configures the synthetic shapes dataset (`sprint data make-shapes`).
	Shapes ShapesConfig `mapstructure:"shapes"`
}

// ShapesConfig configures the synthetic shapes dataset.
type ShapesConfig struct {
	// NumSamples is the number of rows to generate.
	NumSamples int `mapstructure:"num_samples"`
	// ImageSize is the side of the square RGB images in pixels (divisible by patch).
	ImageSize int `mapstructure:"image_size"`
	// Seed fixes the scenes: sample i depends only on (seed, image size, object counts, i).
	Seed int `mapstructure:"seed"`
	// MinObjects is the least number of shapes per image (1..6).
	MinObjects int `mapstructure:"min_objects"`
	// MaxObjects is the largest number of shapes per image (MinObjects..6).
	MaxObjects int `mapstructure:"max_objects"`
	// RelationHalves puts the two groups of a two-group scene in opposite halves of the image
	// along one axis, drawn uniformly, with the centres further apart along it than across, so
	// that the caption's "left of" or "above" is never a near-diagonal call. False places every
	// object uniformly. The scenes (and the held-out prompts) depend on it.
	RelationHalves bool `mapstructure:"relation_halves"`
	// Patch is the space-to-depth factor of the latent: (3*patch², size/patch, size/patch).
	Patch int `mapstructure:"patch"`
	// EmbedDim is the text embedding dimension D.
	EmbedDim int `mapstructure:"embed_dim"`
	// MaxTokens is the text length L (tokens, <end> included, plus padding).
	MaxTokens int `mapstructure:"max_tokens"`
	// TextSeed fixes the text encoder's token and position vectors.
	TextSeed int `mapstructure:"text_seed"`
	// TextEncoding is how the text encoder embeds a token: "positional" (token + position vector),
	// "phrases" (token + object-phrase + position vector) or "roles" (phrases plus a vector for the
	// side of the image the relation puts the object on); see TextEncoder.
	TextEncoding string `mapstructure:"text_encoding"`
	// ShardRows is the number of rows per shard.
	ShardRows int `mapstructure:"shard_rows"`
	// Format is the container of the generated shards: parquet or arrow.
	Format string `mapstructure:"format"`
	// LatentDType is the storage dtype of the latents: float32, float16 or bfloat16.
	LatentDType string `mapstructure:"latent_dtype"`
	// Compression is none, zstd, snappy (parquet) or lz4 (arrow).
	Compression string `mapstructure:"compression"`
	// Overwrite replaces existing shapes shards in the output directory instead of failing.
	Overwrite bool `mapstructure:"overwrite"`
	// Control adds a control latent to every row for ControlNet training: "" (none) or "outline"
	// (the latent of the scene's object outlines in white on black, see data.ControlImage).
	Control string `mapstructure:"control"`
}

// DefaultShapesConfig is the shapes dataset of the CPU demo: 10000 32x32 images with one to three shapes,
// 12x16x16 float32 latents, 16x32 text embeddings, parquet shards of 4096 rows compressed with zstd.
func DefaultShapesConfig() ShapesConfig {
	return ShapesConfig{
		NumSamples:   10000,
		ImageSize:    32,
		Seed:         0,
		MinObjects:   1,
		MaxObjects:   3,
		Patch:        2,
		EmbedDim:     32,
		MaxTokens:    16,
		TextSeed:     1,
		TextEncoding: TextEncodingPositional,
		ShardRows:    4096,
		Format:       string(FormatParquet),
		LatentDType:  "float32",
		Compression:  "zstd",
	}
}

// DefaultConfig returns the defaults of the `data:` section: no paths, parquet, batch size 32, seed 0,
// shuffling, 2 batches of prefetch, drop last, a 256 MiB cache, float32 batches, default shapes.
func DefaultConfig() Config {
	return Config{
		Format:      string(FormatParquet),
		BatchSize:   32,
		Seed:        0,
		Shuffle:     true,
		Prefetch:    2,
		Workers:     0,
		DropLast:    true,
		CacheMB:     256,
		LatentDType: "float32",
		TextDType:   "float32",
		Shapes:      DefaultShapesConfig(),
	}
}

// Validate checks every field; errors name the key (e.g. "data.batch_size: must be > 0"). Paths may be
// empty here (a make-shapes run needs none); Open reports missing data.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("data.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for i, p := range c.Paths {
		if strings.TrimSpace(p) == "" {
			add(fmt.Sprintf("paths[%d]", i), "must not be empty")
		}
	}
	if _, err := ParseFormat(c.Format); err != nil {
		add("format", "%q: want parquet or arrow", c.Format)
	}
	if c.BatchSize <= 0 {
		add("batch_size", "must be > 0 (got %d)", c.BatchSize)
	}
	if c.Seed < 0 {
		add("seed", "must be >= 0 (got %d)", c.Seed)
	}
	if c.Prefetch < 0 {
		add("prefetch", "must be >= 0 (got %d)", c.Prefetch)
	}
	if c.Workers < 0 {
		add("workers", "must be >= 0 (got %d)", c.Workers)
	}
	if c.CacheMB < 0 {
		add("cache_mb", "must be >= 0 (got %d)", c.CacheMB)
	}
	if _, err := ParseDType(c.LatentDType); err != nil {
		add("latent_dtype", "%q: want float32, float16 or bfloat16", c.LatentDType)
	}
	if _, err := ParseDType(c.TextDType); err != nil {
		add("text_dtype", "%q: want float32, float16 or bfloat16", c.TextDType)
	}
	if err := c.Shapes.validate("data.shapes."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ReaderOptions converts the configuration to reader options for one rank of worldSize.
func (c Config) ReaderOptions(rank, worldSize int) (ReaderOptions, error) {
	if err := c.Validate(); err != nil {
		return ReaderOptions{}, err
	}
	format, _ := ParseFormat(c.Format)
	lat, _ := ParseDType(c.LatentDType)
	txt, _ := ParseDType(c.TextDType)
	cache := int64(c.CacheMB) << 20
	if c.CacheMB == 0 {
		cache = -1
	}
	return ReaderOptions{
		Format: format, BatchSize: c.BatchSize, Seed: uint64(c.Seed), Shuffle: c.Shuffle,
		Rank: rank, WorldSize: worldSize, DropLast: c.DropLast, Prefetch: c.Prefetch, Workers: c.Workers,
		CacheBytes: cache, LatentDType: lat, TextDType: txt,
	}, nil
}

// Open opens the configured shards for one rank of worldSize.
func (c Config) Open(rank, worldSize int) (*Reader, error) {
	opts, err := c.ReaderOptions(rank, worldSize)
	if err != nil {
		return nil, err
	}
	if len(c.Paths) == 0 {
		return nil, errors.New("data.paths: no shards configured")
	}
	return Open(c.Paths, opts)
}

// Validate checks the shapes configuration; errors name the key under "data.shapes.".
func (s ShapesConfig) Validate() error { return s.validate("data.shapes.") }

// MaxCaptionTokens is the number of tokens (<end> included) of the longest caption with up to
// maxObjects objects.
func MaxCaptionTokens(maxObjects int) int {
	switch {
	case maxObjects <= 1:
		return 4 // "a red circle <end>"
	case maxObjects == 2:
		return 9 // "a red circle left of a blue square <end>"
	}
	return 4 * maxObjects // n phrases of 3 words, n-2 commas, "and", <end>
}

func (s ShapesConfig) validate(prefix string) error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if s.NumSamples <= 0 {
		add("num_samples", "must be > 0 (got %d)", s.NumSamples)
	}
	if s.ImageSize < 8 || s.ImageSize > 1024 {
		add("image_size", "must be in [8, 1024] (got %d)", s.ImageSize)
	}
	if s.Seed < 0 {
		add("seed", "must be >= 0 (got %d)", s.Seed)
	}
	if s.MinObjects < 1 || s.MinObjects > 6 {
		add("min_objects", "must be in [1, 6] (got %d)", s.MinObjects)
	}
	if s.MaxObjects < s.MinObjects || s.MaxObjects > 6 {
		add("max_objects", "must be in [min_objects, 6] (got %d)", s.MaxObjects)
	}
	if s.Patch <= 0 {
		add("patch", "must be > 0 (got %d)", s.Patch)
	} else if s.ImageSize > 0 && s.ImageSize%s.Patch != 0 {
		add("patch", "%d must divide image_size %d", s.Patch, s.ImageSize)
	}
	if s.EmbedDim <= 0 {
		add("embed_dim", "must be > 0 (got %d)", s.EmbedDim)
	}
	if need := MaxCaptionTokens(s.MaxObjects); s.MaxTokens < need {
		add("max_tokens", "must be >= %d, the longest caption with %d objects (got %d)", need, s.MaxObjects, s.MaxTokens)
	}
	if s.TextSeed < 0 {
		add("text_seed", "must be >= 0 (got %d)", s.TextSeed)
	}
	if !slices.Contains(TextEncodings, s.TextEncoding) {
		add("text_encoding", "%q: want one of %s", s.TextEncoding, strings.Join(TextEncodings, ", "))
	}
	if s.ShardRows <= 0 {
		add("shard_rows", "must be > 0 (got %d)", s.ShardRows)
	}
	format, err := ParseFormat(s.Format)
	if err != nil {
		add("format", "%q: want parquet or arrow", s.Format)
	}
	if _, err := ParseDType(s.LatentDType); err != nil {
		add("latent_dtype", "%q: want float32, float16 or bfloat16", s.LatentDType)
	}
	if s.Control != "" && s.Control != ShapesControlOutline {
		add("control", "%q: want \"\" (none) or %q", s.Control, ShapesControlOutline)
	}
	wo := WriterOptions{Format: format, Compression: s.Compression}
	if format != "" {
		if err := wo.normalize(); err != nil {
			add("compression", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// TextEncoder returns the text encoder of this dataset. An empty TextEncoding (the configuration
// recorded in shards made before the key existed) is the positional encoding.
func (s ShapesConfig) TextEncoder() (*TextEncoder, error) {
	enc := s.TextEncoding
	if enc == "" {
		enc = TextEncodingPositional
	}
	return NewTextEncoding(s.EmbedDim, s.MaxTokens, uint64(s.TextSeed), enc)
}

// LatentShape is the (C, H, W) shape of this dataset's latents.
func (s ShapesConfig) LatentShape() [3]int {
	return [3]int{3 * s.Patch * s.Patch, s.ImageSize / s.Patch, s.ImageSize / s.Patch}
}

// ContentDiff names the settings of other, as "data.shapes.<key> <theirs> (here <ours>)", that
// give its rows other scenes, images, latents or text embeddings than s: everything but the
// row count and the container. An empty text encoding counts as positional.
func (s ShapesConfig) ContentDiff(other ShapesConfig) []string {
	enc := func(e string) string {
		if e == "" {
			return TextEncodingPositional
		}
		return e
	}
	var diffs []string
	for _, f := range []struct {
		key          string
		theirs, ours any
	}{
		{"seed", other.Seed, s.Seed},
		{"image_size", other.ImageSize, s.ImageSize},
		{"min_objects", other.MinObjects, s.MinObjects},
		{"max_objects", other.MaxObjects, s.MaxObjects},
		{"relation_halves", other.RelationHalves, s.RelationHalves},
		{"patch", other.Patch, s.Patch},
		{"embed_dim", other.EmbedDim, s.EmbedDim},
		{"max_tokens", other.MaxTokens, s.MaxTokens},
		{"text_seed", other.TextSeed, s.TextSeed},
		{"text_encoding", enc(other.TextEncoding), enc(s.TextEncoding)},
		{"control", other.Control, s.Control},
	} {
		if f.theirs != f.ours {
			diffs = append(diffs, fmt.Sprintf("data.shapes.%s %v (here %v)", f.key, f.theirs, f.ours))
		}
	}
	return diffs
}
