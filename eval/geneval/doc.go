// Package geneval implements GenEval's scoring (reference notes §3): reading evaluation_metadata.jsonl,
// writing and scanning the folder layout of generated images (<dir>/<00000>/metadata.jsonl and
// samples/<00000>.png), GenEval's detection post-processing (strict thresholds, 0.9 for counting, at
// most 16 objects per class, then the optional greedy NMS of max_overlap), its correctness rules
// (counts, exclusions, colours by CLIP zero-shot with the three templates, positions by the
// relative-position rule), result rows in GenEval's results.jsonl fields (reasons worded as GenEval's
// evaluate() words them), and the task-averaged summary.
//
// The rules are independent of where detections come from: Filter, Evaluate and RelativePosition take
// plain Detections, and colours come through the ColorClassifier interface, so an exact detector (for
// example of a synthetic shapes dataset) plugs into the same rules. JSONLDetector reads detections
// written by an external detector; this package does not contain the Mask2Former detector itself.
package geneval
