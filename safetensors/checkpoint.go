package safetensors

// Checkpoints spread over several files: a sharded index or a diffusers/transformers folder.

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/gomlx/core/tensors"
)

// Index is a sharded checkpoint's index (model.safetensors.index.json or
// diffusion_pytorch_model.safetensors.index.json): which shard file holds each tensor.
type Index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// ReadIndex parses a sharded checkpoint's index file. Shard names must be
// plain file names in the index's directory.
func ReadIndex(indexPath string) (*Index, error) {
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("safetensors index: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("safetensors index %s: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors index %s: empty weight_map", indexPath)
	}
	for name, shard := range idx.WeightMap {
		if shard == "" || filepath.Base(shard) != shard || shard == "." || shard == ".." {
			return nil, fmt.Errorf("safetensors index %s: tensor %q: shard %q is not a file name in the index's directory", indexPath, name, shard)
		}
	}
	return &idx, nil
}

// Shards returns the index's shard file names, sorted.
func (idx *Index) Shards() []string {
	set := make(map[string]bool)
	for _, s := range idx.WeightMap {
		set[s] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// ReadSharded reads all tensors of a sharded checkpoint through its index file,
// checking that every tensor sits in the shard the index names and that no shard holds a
// tensor the index does not list. Metadata of all shards is merged.
func ReadSharded(indexPath string) (map[string]*tensors.Tensor, map[string]string, error) {
	return collect(indexPath, forEachSharded)
}

func forEachSharded(indexPath string, fn func(name string, t *tensors.Tensor) error) (map[string]string, error) {
	idx, err := ReadIndex(indexPath)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(indexPath)
	md := make(map[string]string)
	seen := make(map[string]bool, len(idx.WeightMap))
	for _, shard := range idx.Shards() {
		shardPath := filepath.Join(dir, shard)
		shardMD, err := forEachInFile(shardPath, func(name string, t *tensors.Tensor) error {
			if want, ok := idx.WeightMap[name]; !ok || want != shard {
				return fmt.Errorf("safetensors index %s: shard %s holds tensor %q, which the index maps to %q", indexPath, shard, name, want)
			}
			seen[name] = true
			return fn(name, t)
		})
		if err != nil {
			return nil, err
		}
		maps.Copy(md, shardMD)
	}
	for _, name := range slices.Sorted(maps.Keys(idx.WeightMap)) {
		if !seen[name] {
			return nil, fmt.Errorf("safetensors index %s: tensor %q is missing from shard %s", indexPath, name, idx.WeightMap[name])
		}
	}
	return md, nil
}

// Read reads a checkpoint given as a .safetensors file, a sharded index
// (*.index.json), or a directory holding one of diffusion_pytorch_model.safetensors,
// model.safetensors or their .index.json (diffusers' and transformers' names).
func Read(path string) (map[string]*tensors.Tensor, map[string]string, error) {
	return collect(path, ForEach)
}

// ForEach streams the tensors of a checkpoint (same path forms as Read)
// to fn one at a time, so a large checkpoint can be converted without holding two copies.
func ForEach(path string, fn func(name string, t *tensors.Tensor) error) (map[string]string, error) {
	file, sharded, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	if sharded {
		return forEachSharded(file, fn)
	}
	return forEachInFile(file, fn)
}

// Names returns the tensor names of a checkpoint (same path forms as Read) from its header or
// index alone, without reading any data: in the header's order for a single file, in no
// particular order for a sharded one.
func Names(path string) ([]string, error) {
	file, sharded, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	if sharded {
		idx, err := ReadIndex(file)
		if err != nil {
			return nil, err
		}
		return slices.Collect(maps.Keys(idx.WeightMap)), nil
	}
	infos, _, err := ReadHeader(file)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	return names, nil
}

// Resolve turns a checkpoint path (file, index or directory) into the file
// to read and whether it is a sharded index.
func Resolve(path string) (file string, sharded bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", false, fmt.Errorf("checkpoint: %w", err)
	}
	if !st.IsDir() {
		return path, filepath.Ext(path) == ".json", nil
	}
	for _, base := range []string{"diffusion_pytorch_model", "model"} {
		single := filepath.Join(path, base+".safetensors")
		if fileExists(single) {
			return single, false, nil
		}
		index := single + ".index.json"
		if fileExists(index) {
			return index, true, nil
		}
	}
	return "", false, fmt.Errorf("checkpoint directory %s: no diffusion_pytorch_model.safetensors, model.safetensors or .index.json in it", path)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
