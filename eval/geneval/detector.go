package geneval

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// Detector finds instances in one sample.
type Detector interface {
	Detect(s Sample, img *imaging.RGB8) (Detections, error)
}

// DetectionRecord is one line of a detections JSONL file, written by an external detector (for example
// the Mask2Former of GenEval's reference setup) for the images of a layout:
//
//	{"filename": "00012/samples/00003.png",
//	 "detections": {"clock": [{"box": [x1, y1, x2, y2], "score": 0.97,
//	                           "mask": {"size": [height, width], "counts": [5, 3, ...]}}]}}
//
// filename is relative to the layout root (the result rows use the same names). Boxes are in image
// pixels, scores in [0, 1], before any thresholding. mask is optional and uses COCO's uncompressed RLE:
// run lengths over the column-major (Fortran-order) pixels, starting with a run of zeros.
type DetectionRecord struct {
	Filename   string                      `json:"filename"`
	Detections map[string][]DetectionEntry `json:"detections"`
}

// DetectionEntry is one instance of a DetectionRecord.
type DetectionEntry struct {
	Box   [4]float64 `json:"box"`
	Score float64    `json:"score"`
	Mask  *RLE       `json:"mask,omitempty"`
}

// RLE is COCO's uncompressed run-length encoding.
type RLE struct {
	Size   [2]int `json:"size"` // height, width
	Counts []int  `json:"counts"`
}

// Decode expands the runs into a row-major mask.
func (r *RLE) Decode() (*Mask, error) {
	h, w := r.Size[0], r.Size[1]
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("mask size %v", r.Size)
	}
	m := &Mask{Width: w, Height: h, Bits: make([]bool, w*h)}
	pos, val := 0, false
	for _, c := range r.Counts {
		if c < 0 || pos+c > w*h {
			return nil, fmt.Errorf("mask runs exceed %dx%d pixels", h, w)
		}
		if val {
			for i := pos; i < pos+c; i++ {
				y, x := i%h, i/h // column-major
				m.Bits[y*w+x] = true
			}
		}
		pos += c
		val = !val
	}
	if pos != w*h {
		return nil, fmt.Errorf("mask runs cover %d of %d pixels", pos, w*h)
	}
	return m, nil
}

// EncodeRLE is the inverse of Decode (used by tests and by Go detectors that write the file).
func EncodeRLE(m *Mask) *RLE {
	r := &RLE{Size: [2]int{m.Height, m.Width}}
	val, run := false, 0
	for x := 0; x < m.Width; x++ {
		for y := 0; y < m.Height; y++ {
			if m.Bits[y*m.Width+x] != val {
				r.Counts = append(r.Counts, run)
				val, run = !val, 0
			}
			run++
		}
	}
	r.Counts = append(r.Counts, run)
	return r
}

// JSONLDetector serves detections read from a file.
type JSONLDetector struct {
	byName map[string]Detections
}

// LoadJSONLDetections reads a detections file (see DetectionRecord).
func LoadJSONLDetections(path string) (*JSONLDetector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("GenEval detections: %w", err)
	}
	defer f.Close()
	d := &JSONLDetector{byName: map[string]Detections{}}
	err = readJSONL(f, path, 256<<20, func(line []byte) error {
		var rec DetectionRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return err
		}
		if rec.Filename == "" {
			return errors.New("no filename")
		}
		dets := Detections{}
		for class, entries := range rec.Detections {
			for i, e := range entries {
				det := Detection{Box: Box{e.Box[0], e.Box[1], e.Box[2], e.Box[3]}, Score: e.Score}
				if e.Mask != nil {
					m, err := e.Mask.Decode()
					if err != nil {
						return fmt.Errorf("%s #%d: %w", class, i, err)
					}
					det.Mask = m
				}
				dets[class] = append(dets[class], det)
			}
		}
		d.byName[filepath.ToSlash(filepath.Clean(rec.Filename))] = dets
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Detect returns the recorded detections of a sample; a sample absent from the file is an error.
func (d *JSONLDetector) Detect(s Sample, _ *imaging.RGB8) (Detections, error) {
	if dets, ok := d.byName[s.Rel]; ok {
		return dets, nil
	}
	if dets, ok := d.byName[filepath.ToSlash(filepath.Clean(s.Path))]; ok {
		return dets, nil
	}
	return nil, fmt.Errorf("no detections recorded for %s", s.Rel)
}

// Len is the number of images in the file.
func (d *JSONLDetector) Len() int { return len(d.byName) }
