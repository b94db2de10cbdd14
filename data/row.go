package data

import (
	"fmt"
)

// Row is one training sample on the host, as given to a Writer or returned by Reader.ReadRow.
// Tensors are row-major float32 slices; the Writer converts them to the storage dtype.
type Row struct {
	// Key identifies the sample; it must be non-empty (uniqueness is the producer's business).
	Key string
	// Prompt is the caption; "" is allowed (the null caption).
	Prompt string
	// Latent holds C*H*W values laid out as (C, H, W).
	Latent []float32
	// LatentShape is (C, H, W).
	LatentShape [3]int
	// TextEmbedding holds L*D values laid out as (L, D).
	TextEmbedding []float32
	// TextShape is (L, D).
	TextShape [2]int
	// TextMask has L entries, each 0 (padding) or 1 (token).
	TextMask []float32
	// Category is optional ("" = null).
	Category string
	// Width and Height are the optional pixel size of the source image (0 = null).
	Width, Height int
	// Meta is optional free-form JSON ("" = null); the shapes dataset keeps its Scene here.
	Meta string
	// Control is the optional control latent, C*H*W values laid out like Latent (nil: none).
	// Within one dataset every row has one or none (control.go).
	Control []float32
}

// check validates a row to be written with the given latent/text shapes.
func (r *Row) check() error {
	if r.Key == "" {
		return fmt.Errorf("empty key")
	}
	for i, d := range r.LatentShape {
		if d <= 0 {
			return fmt.Errorf("key %q: latent shape %v: dimension %d must be > 0", r.Key, r.LatentShape, i)
		}
	}
	for i, d := range r.TextShape {
		if d <= 0 {
			return fmt.Errorf("key %q: text_embedding shape %v: dimension %d must be > 0", r.Key, r.TextShape, i)
		}
	}
	if want := r.LatentShape[0] * r.LatentShape[1] * r.LatentShape[2]; len(r.Latent) != want {
		return fmt.Errorf("key %q: latent has %d values, want %d for shape %v", r.Key, len(r.Latent), want, r.LatentShape)
	}
	if want := r.TextShape[0] * r.TextShape[1]; len(r.TextEmbedding) != want {
		return fmt.Errorf("key %q: text_embedding has %d values, want %d for shape %v", r.Key, len(r.TextEmbedding), want, r.TextShape)
	}
	if len(r.TextMask) != r.TextShape[0] {
		return fmt.Errorf("key %q: text_mask has %d values, want %d (L of text shape %v)", r.Key, len(r.TextMask), r.TextShape[0], r.TextShape)
	}
	if i := firstNonFiniteFloat32(r.Latent); i >= 0 {
		return fmt.Errorf("key %q: latent element %d is %v, want finite values", r.Key, i, r.Latent[i])
	}
	if i := firstNonFiniteFloat32(r.TextEmbedding); i >= 0 {
		return fmt.Errorf("key %q: text_embedding element %d is %v, want finite values", r.Key, i, r.TextEmbedding[i])
	}
	for i, m := range r.TextMask {
		if m != 0 && m != 1 {
			return fmt.Errorf("key %q: text_mask element %d is %v, want 0 or 1", r.Key, i, m)
		}
	}
	if err := r.checkControl(); err != nil {
		return err
	}
	if r.Width < 0 || r.Height < 0 {
		return fmt.Errorf("key %q: width/height %dx%d must be >= 0", r.Key, r.Width, r.Height)
	}
	return nil
}
