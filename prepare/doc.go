// Package prepare turns images with captions into sprint's training shards (schema in package
// data): the offline step before distillation, what SANA's data pipeline does on the fly.
//
// Sources (Source): a folder of images with .txt caption sidecars (Folder), a JSONL file of
// {path, caption} (JSONL), or a Parquet file with image bytes and caption columns (Parquet).
// Each image goes to the nearest of SANA's aspect-ratio buckets at 512 or 1024 (Buckets,
// NearestBucket: SANA's ASPECT_RATIO_512/1024 tables and get_closest_ratio), is resized to cover
// the bucket with PIL's antialiased bicubic filter and centre-cropped (ResizeCrop, as SANA's
// dataset does through torchvision), normalised to [−1, 1], and encoded by a DC-AE (package vae)
// into scaled latents, z·scaling_factor. Captions are embedded by a CaptionEncoder (a text
// encoder such as Gemma-2 implements it; ShapesCaptions wraps the shapes dataset's fixed encoder;
// Precomputed serves embeddings computed elsewhere, looked up by sample key).
//
// Run writes the rows bucket by bucket into shards of a fixed number of rows, batched, on any
// GoMLX backend, and is resumable: a progress file committed after each shard lets an
// interrupted run continue without duplicating or losing a row, and the shards come out
// byte-identical to an uninterrupted run's.
//
// It is not a reader of shards (package data) and holds no model code (package vae, and the text
// encoder's package).
package prepare
