// Package grid tiles images into one picture (validation grids, the demo's rows, contact
// sheets of a dataset), enlarges small images with exact nearest-neighbour pixels, and writes
// PNG files. It is the one place where pictures are laid out; it knows nothing of latents or
// models (turning latents into images is package decode).
package grid
