package checkpoints

// The JSON files of a diffusers folder (config.json, model_index.json, scheduler_config.json),
// written by the transformer, ControlNet and pipeline exports with atomicfile.WriteJSON.

import (
	"encoding/json"
	"fmt"
	"os"
)

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
