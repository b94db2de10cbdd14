package logging

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math"
)

// Sink receives a run's metrics and images. Steps are global steps; scalar names are
// slash-separated ("g/loss", "d/grad_norm"); image names likewise ("samples/1step").
type Sink interface {
	// Scalars logs one row of scalars at a step.
	Scalars(step int64, values map[string]float64) error
	// Images logs named images at a step.
	Images(step int64, images map[string]image.Image) error
	// Close flushes and releases the sink; the run ended normally.
	Close() error
}

// Finisher is implemented by sinks that record how the run process ended (W&B's exit code).
type Finisher interface {
	// Finish flushes and closes the sink, recording the process exit code.
	Finish(exitCode int) error
}

// Multi fans every call out to several sinks; errors are joined, and every sink is called.
type Multi []Sink

// Scalars implements Sink.
func (m Multi) Scalars(step int64, values map[string]float64) error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Scalars(step, values))
	}
	return errors.Join(errs...)
}

// Images implements Sink.
func (m Multi) Images(step int64, images map[string]image.Image) error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Images(step, images))
	}
	return errors.Join(errs...)
}

// Close implements Sink.
func (m Multi) Close() error { return m.Finish(0) }

// Finish implements Finisher: sinks that are Finishers get the exit code, others are closed.
func (m Multi) Finish(exitCode int) error {
	var errs []error
	for _, s := range m {
		if f, ok := s.(Finisher); ok {
			errs = append(errs, f.Finish(exitCode))
		} else {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// EncodePNG encodes an image as PNG.
func EncodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// jsonNumber returns v as a JSON-encodable value: finite numbers as they are, NaN and the
// infinities as the strings "NaN", "Infinity" and "-Infinity" (JSON has no such numbers).
func jsonNumber(v float64) any {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return v
}
