package generate

import (
	"path/filepath"

	"github.com/sprint-distill/sprint/eval/geneval"
	"github.com/sprint-distill/sprint/eval/mjhq"
)

// MJHQItems are the images of MJHQ-30K entries, one per key, as <dir>/<key>.png (what the
// MJHQ-30K scorer reads).
func MJHQItems(dir string, entries []mjhq.Entry) []Item {
	items := make([]Item, len(entries))
	for i, e := range entries {
		items[i] = Item{Prompt: e.Prompt, Path: filepath.Join(dir, e.Key+".png")}
	}
	return items
}

// GenEvalImagesPerPrompt is GenEval's number of images per prompt.
const GenEvalImagesPerPrompt = 4

// GenEvalItems are perPrompt images for each GenEval prompt, in GenEval's folder layout
// (<dir>/<00000>/samples/<0000j>.png; geneval.WriteLayout writes the metadata beside them).
func GenEvalItems(dir string, prompts []geneval.Metadata, perPrompt int) []Item {
	items := make([]Item, 0, len(prompts)*perPrompt)
	for i, p := range prompts {
		for j := range perPrompt {
			items = append(items, Item{Prompt: p.Prompt, Path: geneval.SamplePath(dir, i, j)})
		}
	}
	return items
}
