package prepare

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// plannedShard is one output shard: rows of a single bucket, in source order.
type plannedShard struct {
	Index  int
	Bucket int   // index into the bucket table
	Items  []int // indices into the item list
}

// plan groups the items by bucket (in table order) and cuts each bucket's items, kept in source
// order, into shards of at most shardRows rows.
func plan(items []Item, buckets []Bucket, shardRows int) ([]plannedShard, []int, error) {
	assign := make([]int, len(items))
	for i, it := range items {
		b, err := NearestBucket(buckets, it.Width, it.Height)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", it.Origin, err)
		}
		assign[i] = b
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return assign[order[a]] < assign[order[b]] })
	var shards []plannedShard
	for start := 0; start < len(order); {
		b := assign[order[start]]
		end := start
		for end < len(order) && assign[order[end]] == b && end-start < shardRows {
			end++
		}
		shards = append(shards, plannedShard{Index: len(shards), Bucket: b, Items: order[start:end]})
		start = end
	}
	return shards, assign, nil
}

// fingerprint identifies a run: the items (keys, captions, sizes, buckets) and every setting that
// changes the bytes written. A resumed run must have the same fingerprint.
func fingerprint(items []Item, assign []int, settings any) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	if err := enc.Encode(settings); err != nil {
		return "", err
	}
	for i, it := range items {
		if err := enc.Encode([]any{it.Key, it.Caption, it.Origin, it.Width, it.Height, assign[i]}); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// progressFile is the resumption record of a run, rewritten atomically after each shard.
type progressFile struct {
	Version     int      `json:"version"`
	Fingerprint string   `json:"fingerprint"`
	Shards      int      `json:"shards"`     // planned shards
	Done        int      `json:"done"`       // shards 0 … Done−1 are complete
	RowsDone    int      `json:"rows_done"`  // rows in the complete shards
	Files       []string `json:"files"`      // their file names
	TotalRows   int      `json:"total_rows"` // planned rows
	Settings    any      `json:"settings"`   // for people reading the file
}

const progressVersion = 1

func progressPath(dir, prefix string) string { return filepath.Join(dir, prefix+"-progress.json") }

// readProgress reads the progress file; a missing file is (nil, nil).
func readProgress(path string) (*progressFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("progress file: %w", err)
	}
	var p progressFile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("progress file %s: %w", path, err)
	}
	if p.Version != progressVersion {
		return nil, fmt.Errorf("progress file %s: version %d, want %d", path, p.Version, progressVersion)
	}
	return &p, nil
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }
