// Package shapes scores images of the synthetic shapes dataset (package data) the way GenEval
// scores real images, with an exact detector in place of an object detector:
//
//   - Detector.Detect finds the palette-coloured objects of an image (nearest-colour labels,
//     connected components, shape by the best-overlapping rendered shape); on clean renders it
//     returns exactly the scene's objects.
//   - Score compares the detections with the scene a prompt was made from: object, colour, count,
//     position (the caption's relation) and exact match; Aggregate averages them.
//   - Place asks the question of a position/outline control map: is each of the scene's objects
//     drawn where the scene puts it (a detection overlapping its box, IoU >= 0.5)?
//   - Detector.Features is a fixed, weight-free feature map in which a Fréchet distance between
//     image sets is meaningful for this data.
//
// It is not a general detector and knows nothing of models: it reads images only.
package shapes
