// Package data is sprint's training data: the shard format, writers and the batch reader, and the
// synthetic shapes dataset of the CPU demo.
//
// It is not a model: it does not encode images or text with a VAE or T5 (precomputed latents and
// embeddings arrive in shards; the shapes dataset has its own fixed, weight-free "encoders"), it does
// not move tensors to devices, and it holds no training state beyond the Position a checkpoint saves.
// It does not download anything.
//
// # Shard schema (version "sprint-shard/1")
//
// A shard is a Parquet file (written through arrow's pqarrow) or an Arrow IPC file, one row a sample:
//
//	column          arrow type                        content
//	key             utf8 (or large_utf8)              non-empty sample id
//	prompt          utf8                              caption; "" is the null caption
//	latent          binary, large_binary or           C*H*W values, row-major (C, H, W), little-endian,
//	                fixed_size_binary                 in the latent dtype
//	text_embedding  binary (same choices)             L*D values, row-major (L, D), in the text dtype
//	text_mask       binary (same choices)             L bytes, each 0 (padding) or 1 (token)
//	category        utf8, optional, nullable          free label (shapes: "objects:<n>")
//	width, height   int32 or int64, optional, null.   pixel size of the source image
//	meta            utf8, optional, nullable          free JSON (shapes: the Scene ground truth)
//	control         binary, optional                  control latent of a ControlNet dataset: like latent
//	                                                  (dtype, C,H,W); all shards or none (control.go)
//
// Tensor dtypes and shapes are in the schema-level metadata (key: value):
//
//	sprint.version                sprint-shard/1
//	sprint.latent.dtype           float32 | float16 | bfloat16
//	sprint.latent.shape           C,H,W           e.g. "32,32,32"
//	sprint.text_embedding.dtype   float32 | float16 | bfloat16
//	sprint.text_embedding.shape   L,D             e.g. "300,2304"
//	sprint.group_rows             rows per row group / record batch (all but the last; Arrow files use
//	                              it to find row counts without reading data)
//	sprint.shapes.config          (shapes dataset only) its ShapesConfig as JSON
//
// All rows of a shard share one latent shape; a dataset with several shapes (aspect-ratio buckets) has
// several shards, and the Writer routes rows by shape. All shards of a dataset share the text layout
// and the latent dtype. In Python a row's latent is np.frombuffer(row["latent"], dtype).reshape(C, H, W)
// (bfloat16 through ml_dtypes); pyarrow writes shards with pa.binary() columns and schema metadata.
//
// Row groups (Parquet) and record batches (Arrow) are the unit of random access and are kept small
// (WriterOptions.GroupBytes, 1 MiB by default): the reader decodes a whole group to use one row.
// For large rows prefer Arrow: on SANA's 1024px rows (about 1.4 MB of bfloat16) it reads about three
// times faster than Parquet (BenchmarkReaderSANA1024), and its buffers are recycled between groups.
//
// # Reading
//
// Open scans the footers of shards given as files, directories or globs (sorted, so the order does
// not depend on how they were listed). Reader.Iterate yields an endless sequence of Batch over epochs:
//
//   - Order: with shuffling, epoch e visits the rows in a permutation that depends only on (seed, e)
//     (SplitMix64 + Fisher-Yates written out in this package, so it does not change with Go releases);
//     without, in shard order.
//   - Buckets: walking that order, each row joins the pending batch of its latent shape; a batch is
//     emitted when full. Batches never mix shapes and the sequence is as deterministic as the order.
//   - Ranks: batches are global (batch size x world size rows); rank r takes the r-th slice, so the
//     ranks' parts are disjoint, equal-sized, of one shape per step, and together cover the epoch
//     (minus the partial batches drop_last discards).
//   - Resume: Batch.Next is the Position (epoch, index of the next global batch) after the batch. A
//     reader given that Position yields exactly the batches an uninterrupted run would have. The
//     Position carries a fingerprint of the shards and settings, and a mismatch is an error.
//   - Prefetch: Workers goroutines build up to Prefetch+1 batches ahead; a cache of decoded groups
//     (CacheBytes) bounds the rest of the memory.
//
// Nothing is skipped silently: a missing file, a schema that differs from the schema above or from the
// other shards, a truncated or corrupt file, a row with a wrong size, a null key, a mask value other
// than 0/1, or a NaN/Inf value is an error naming the file and the row (or rows) and what was
// expected. The iterator stops at the first error; Reader.Verify scans everything and lists them all.
//
// # The shapes dataset
//
// A synthetic dataset for the CPU demo and for tests, rendered deterministically from a seed (sample
// i depends only on the configuration and i, see SampleScene):
//
//   - Images: ShapesConfig.ImageSize square RGB (default 32x32), Background black (0,0,0), one to three
//     non-overlapping objects (boxes at least one pixel apart), each a circle, square or triangle in a
//     Palette colour: red (255,0,0), green (0,255,0), blue (0,0,255), yellow (255,255,0). Pixels are
//     exact palette colours (no anti-aliasing). Object.Covers is the rasteriser's exact rule (pixel
//     centres; circle inscribed in the box; triangle with its apex at the top middle and its base on the
//     bottom edge); boxes are [x0, y0, x1, y1), y downwards, and square.
//   - Ground truth: the Scene (size, and per object shape, colour and box) as JSON in the meta column.
//     RenderScene draws any Scene the same way, for evaluation; ParseScene reads it back.
//   - Captions (Caption): objects of one shape and colour form a group with a count ("a red circle",
//     "two blue squares"); two groups are related by "left of" (the left group first) or "above" (the
//     upper group first) along the axis where their centres differ most; three groups are listed left
//     to right: "a red circle, a blue square and a green triangle".
//   - Latent: a fixed space-to-depth of the image with patch p (default 2): (3p², S/p, S/p), channel
//     c*p*p + dy*p + dx (PyTorch's pixel_unshuffle order), value (v/255 - ShapesPixelMean) /
//     ShapesPixelStd, about zero mean and unit variance over the default dataset. DecodeLatent is its
//     exact inverse (rounding to 8 bits, clamping), and also renders generated latents.
//   - Text: TextEncoder, deterministic token vectors over a fixed Vocabulary plus position vectors,
//     (MaxTokens, EmbedDim) = (16, 32) by default; mask 1 for tokens, 0 for padding; the null caption ""
//     is the single token <end>.
//
// MakeShapes writes the dataset as shards; ShapesRow builds one row in memory.
package data
