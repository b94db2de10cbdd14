package checkpoints

// The JSON files of a diffusers folder (config.json, model_index.json, scheduler_config.json),
// shared by the transformer, ControlNet and pipeline exports.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sprint-distill/sprint/atomicfile"
)

// writeJSON writes v as indented JSON atomically.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	data = append(data, '\n')
	return atomicfile.Write(atomicfile.OS{}, path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
