package data

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/gomlx/compute/dtypes"
	"golang.org/x/sync/errgroup"
)

// DefaultCacheBytes is the default budget of the reader's cache of decoded groups.
const DefaultCacheBytes = 256 << 20

// ReaderOptions configures a Reader. The zero value of an option is its default unless said otherwise.
type ReaderOptions struct {
	// Format is the expected container of every shard; "" accepts both (detected from the magic bytes).
	Format Format
	// BatchSize is the number of samples per batch on each rank (required, > 0).
	BatchSize int
	// Seed and Shuffle: with Shuffle, epoch e visits the rows in an order that depends only on
	// (Seed, e); without, in shard order (paths sorted, rows in file order).
	Seed    uint64
	Shuffle bool
	// Rank and WorldSize shard every epoch: rank r of w gets a disjoint 1/w of each global batch.
	// WorldSize 0 means 1.
	Rank, WorldSize int
	// DropLast drops the last, partial global batch of each bucket. Without it, a partial batch of n
	// rows is shared out as n/WorldSize rows per rank (the n%WorldSize left over are not seen that epoch).
	DropLast bool
	// Prefetch is the number of batches built ahead in the background (0: each batch is built inside
	// Iterator.Next). At most Prefetch+1 batches are held besides the one returned.
	Prefetch int
	// Workers is the number of goroutines building batches when Prefetch > 0 (default min(GOMAXPROCS, 4)).
	Workers int
	// CacheBytes is the budget of the cache of decoded row groups / record batches (0: DefaultCacheBytes,
	// < 0: no cache).
	CacheBytes int64
	// MaxOpenFiles bounds the shard files kept open (default 64).
	MaxOpenFiles int
	// LatentDType and TextDType are the dtypes of Batch.Latent and Batch.TextEmbedding (default float32).
	LatentDType, TextDType dtypes.DType
}

func (o *ReaderOptions) normalize() error {
	if o.Format != "" {
		if _, err := ParseFormat(string(o.Format)); err != nil {
			return err
		}
	}
	if o.BatchSize <= 0 {
		return fmt.Errorf("batch size %d: must be > 0", o.BatchSize)
	}
	if o.WorldSize == 0 {
		o.WorldSize = 1
	}
	if o.WorldSize < 0 || o.Rank < 0 || o.Rank >= o.WorldSize {
		return fmt.Errorf("rank %d of world size %d: want 0 <= rank < world size", o.Rank, o.WorldSize)
	}
	if o.Prefetch < 0 {
		return fmt.Errorf("prefetch %d: must be >= 0", o.Prefetch)
	}
	if o.Workers < 0 {
		return fmt.Errorf("workers %d: must be >= 0", o.Workers)
	}
	if o.Workers == 0 {
		o.Workers = min(runtime.GOMAXPROCS(0), 4)
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = 64
	}
	return defaultFloatDTypes(&o.LatentDType, &o.TextDType, "output dtype")
}

// Bucket is a set of rows sharing one latent shape; a batch never mixes buckets.
type Bucket struct {
	LatentShape [3]int
	Rows        int
}

// RowRef names one row: the shard file and the 0-based row index inside it.
type RowRef struct {
	Shard string `json:"shard"`
	Row   int    `json:"row"`
}

// String is "path:row".
func (r RowRef) String() string { return fmt.Sprintf("%s:%d", r.Shard, r.Row) }

// Position is where a reader stands in its infinite sequence of batches: Index global batches of
// epoch Epoch have been consumed. It is JSON-able; save Batch.Next with a checkpoint and pass it to
// Reader.Iterate to resume with exactly the batches an uninterrupted run would have seen.
type Position struct {
	Epoch int `json:"epoch"`
	Index int `json:"index"`
	// Fingerprint identifies the dataset and the reader settings that fix the batch sequence
	// (Reader.Fingerprint). Iterate refuses a position with a different non-empty fingerprint.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Reader reads batches from a set of shards. Its methods are safe for concurrent use.
type Reader struct {
	opts        ReaderOptions
	shards      []*shard
	byPath      map[string]int
	rowStart    []int // global index of each shard's first row; rowStart[len(shards)] == total
	total       int
	buckets     []Bucket
	shardBucket []int
	text        Layout // LatentDType and text fields common to all shards
	steps       int
	fingerprint string
	cache       *groupCache
	files       *handlePool

	planMu sync.Mutex
	plan   *epochPlan
}

// ExpandPaths resolves paths, directories and glob patterns into a sorted, de-duplicated list of
// files. A directory stands for the *.parquet and *.arrow files in it. A pattern that matches nothing,
// a missing file and an empty directory are errors.
func ExpandPaths(patterns []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(patterns) == 0 {
		return nil, errors.New("no data paths given")
	}
	for _, pat := range patterns {
		if strings.ContainsAny(pat, "*?[") {
			m, err := filepath.Glob(pat)
			if err != nil {
				return nil, fmt.Errorf("data path %q: %w", pat, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("data path %q matches no files", pat)
			}
			for _, p := range m {
				add(p)
			}
			continue
		}
		st, err := os.Stat(pat)
		if err != nil {
			return nil, fmt.Errorf("data path: %w", err)
		}
		if !st.IsDir() {
			add(pat)
			continue
		}
		var m []string
		for _, ext := range []string{"*.parquet", "*.arrow"} {
			mm, err := filepath.Glob(filepath.Join(pat, ext))
			if err != nil {
				return nil, fmt.Errorf("data path %q: %w", pat, err)
			}
			m = append(m, mm...)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("data directory %s holds no *.parquet or *.arrow shards", pat)
		}
		for _, p := range m {
			add(p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Open scans the footers of the shards named by paths (files, directories or globs, see ExpandPaths),
// checks that their schemas agree, and returns a Reader. It reads no row data.
func Open(paths []string, opts ReaderOptions) (*Reader, error) {
	if err := opts.normalize(); err != nil {
		return nil, fmt.Errorf("data reader: %w", err)
	}
	files, err := ExpandPaths(paths)
	if err != nil {
		return nil, fmt.Errorf("data reader: %w", err)
	}
	shards := make([]*shard, len(files))
	errs := make([]error, len(files))
	var g errgroup.Group // each task records its own error; all are reported
	g.SetLimit(8)
	for i, p := range files {
		g.Go(func() error {
			shards[i], errs[i] = scanShard(p, opts.Format)
			return nil
		})
	}
	_ = g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("data reader: %w", err)
	}
	r := &Reader{opts: opts, shards: shards, byPath: map[string]int{}}
	if err := r.index(); err != nil {
		return nil, fmt.Errorf("data reader: %w", err)
	}
	if r.steps == 0 {
		return nil, fmt.Errorf("data reader: %d rows in %d bucket(s) give no batch of %d (batch size %d x world size %d, drop last %v)",
			r.total, len(r.buckets), opts.BatchSize*opts.WorldSize, opts.BatchSize, opts.WorldSize, opts.DropLast)
	}
	r.cache = newGroupCache(opts.CacheBytes)
	r.files = newHandlePool(opts.MaxOpenFiles, &recycler{})
	return r, nil
}

// index computes row offsets, buckets, steps per epoch and the fingerprint, and checks that the
// shards agree on the text layout and latent dtype.
func (r *Reader) index() error {
	first := r.shards[0]
	r.text = first.Layout
	r.rowStart = make([]int, len(r.shards)+1)
	counts := map[[3]int]int{}
	for i, s := range r.shards {
		l := s.Layout
		if l.TextDType != r.text.TextDType || l.TextShape != r.text.TextShape {
			return fmt.Errorf("shard %s: text_embedding %s%v differs from shard %s's %s%v", s.Path,
				DTypeName(l.TextDType), l.TextShape[:], first.Path, DTypeName(r.text.TextDType), r.text.TextShape[:])
		}
		if l.Control != r.text.Control {
			return fmt.Errorf("shard %s: %s, but shard %s %s: a dataset's shards all have control latents or none",
				s.Path, l.controlPhrase(), first.Path, r.text.controlPhrase())
		}
		if l.LatentDType != r.text.LatentDType {
			return fmt.Errorf("shard %s: latent dtype %s differs from shard %s's %s", s.Path,
				DTypeName(l.LatentDType), first.Path, DTypeName(r.text.LatentDType))
		}
		r.byPath[s.Path] = i
		r.rowStart[i+1] = r.rowStart[i] + s.Rows
		counts[l.LatentShape] += s.Rows
	}
	r.total = r.rowStart[len(r.shards)]
	if r.total > math.MaxInt32 {
		return fmt.Errorf("%d rows: at most %d are supported", r.total, math.MaxInt32)
	}
	for shape, n := range counts {
		r.buckets = append(r.buckets, Bucket{LatentShape: shape, Rows: n})
	}
	sort.Slice(r.buckets, func(i, j int) bool { return lessShape(r.buckets[i].LatentShape, r.buckets[j].LatentShape) })
	r.shardBucket = make([]int, len(r.shards))
	for i, s := range r.shards {
		for b := range r.buckets {
			if r.buckets[b].LatentShape == s.Layout.LatentShape {
				r.shardBucket[i] = b
			}
		}
	}
	global := r.opts.BatchSize * r.opts.WorldSize
	for _, b := range r.buckets {
		r.steps += b.Rows / global
		if !r.opts.DropLast && b.Rows%global >= r.opts.WorldSize {
			r.steps++
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "sprint-data/1 seed=%d shuffle=%v batch=%d world=%d droplast=%v\n", r.opts.Seed, r.opts.Shuffle,
		r.opts.BatchSize, r.opts.WorldSize, r.opts.DropLast)
	for _, s := range r.shards {
		fmt.Fprintf(h, "%s %d %v\n", filepath.Base(s.Path), s.Rows, s.Layout.LatentShape)
	}
	r.fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
	return nil
}

func lessShape(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// Len is the number of rows over all shards.
func (r *Reader) Len() int { return r.total }

// Shards describes the shards in reading order (paths sorted).
func (r *Reader) Shards() []ShardInfo {
	out := make([]ShardInfo, len(r.shards))
	for i, s := range r.shards {
		out[i] = s.ShardInfo
	}
	return out
}

// Schema returns the arrow schema of shard i (in Shards order), metadata included.
func (r *Reader) Schema(i int) *arrow.Schema { return r.shards[i].schema }

// Metadata returns the schema-level metadata of shard i as a map.
func (r *Reader) Metadata(i int) map[string]string {
	md := r.shards[i].schema.Metadata()
	out := make(map[string]string, md.Len())
	for k, key := range md.Keys() {
		out[key] = md.Values()[k]
	}
	return out
}

// Buckets lists the latent shapes (sorted) and their row counts.
func (r *Reader) Buckets() []Bucket { return append([]Bucket(nil), r.buckets...) }

// TextShape is the (L, D) shape of the text embeddings, common to all shards.
func (r *Reader) TextShape() [2]int { return r.text.TextShape }

// StepsPerEpoch is the number of batches each rank gets per epoch (the same for every epoch and rank).
func (r *Reader) StepsPerEpoch() int { return r.steps }

// Options returns the normalized options.
func (r *Reader) Options() ReaderOptions { return r.opts }

// Fingerprint identifies the shards (base names, row counts, latent shapes) and the options that fix
// the batch sequence (seed, shuffle, batch size, world size, drop last).
func (r *Reader) Fingerprint() string { return r.fingerprint }

// Ref converts a global row index (shards in order, rows in order) to a RowRef.
func (r *Reader) Ref(global int) RowRef {
	s := r.shardOf(global)
	return RowRef{Shard: r.shards[s].Path, Row: global - r.rowStart[s]}
}

func (r *Reader) shardOf(global int) int {
	return sort.Search(len(r.shards), func(i int) bool { return r.rowStart[i+1] > global })
}

// Close releases open files and the cache. Iterators must be closed first.
func (r *Reader) Close() error {
	r.cache.clear()
	return r.files.closeAll()
}

// ReadRow decodes one row to float32 host slices, with the same checks as batch reading.
func (r *Reader) ReadRow(ctx context.Context, ref RowRef) (*Row, error) {
	si, ok := r.byPath[filepath.Clean(ref.Shard)]
	if !ok {
		return nil, fmt.Errorf("data reader: shard %s is not part of this reader", ref.Shard)
	}
	s := r.shards[si]
	if ref.Row < 0 || ref.Row >= s.Rows {
		return nil, fmt.Errorf("data reader: shard %s row %d: out of range [0, %d)", s.Path, ref.Row, s.Rows)
	}
	g, i := s.groupOf(ref.Row)
	gr, err := r.group(ctx, si, g)
	if err != nil {
		return nil, err
	}
	defer gr.unref()
	return gr.row(i)
}

// group returns decoded group g of shard si through the cache, with a reference the caller drops
// with unref.
func (r *Reader) group(ctx context.Context, si, g int) (*group, error) {
	return r.cache.get(ctx, groupKey{si, g}, func() (*group, error) {
		h, release, err := r.files.acquire(si, r.shards[si])
		if err != nil {
			return nil, err
		}
		defer release()
		return h.readGroup(ctx, r.shards[si], g)
	})
}

// epochPlan is the global batch sequence of one epoch: batch k holds rows[starts[k]:starts[k+1]],
// a multiple of the world size, all of one bucket.
type epochPlan struct {
	epoch  int
	rows   []int32
	starts []int
}

func (p *epochPlan) len() int { return len(p.starts) - 1 }

// rankRows is the part of global batch k that goes to rank.
func (p *epochPlan) rankRows(k, rank, world int) []int32 {
	b := p.rows[p.starts[k]:p.starts[k+1]]
	per := len(b) / world
	return b[rank*per : (rank+1)*per]
}

// planFor returns the (cached) plan of an epoch.
func (r *Reader) planFor(epoch int) *epochPlan {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	if r.plan != nil && r.plan.epoch == epoch {
		return r.plan
	}
	r.plan = r.buildPlan(epoch)
	return r.plan
}

// buildPlan orders the rows of an epoch (shuffled by (seed, epoch) or in shard order) and cuts them into
// global batches: walking the order, each row joins the pending batch of its bucket, and a bucket's
// batch is emitted when it is full. Leftovers are handled at the end, bucket by bucket in shape order.
func (r *Reader) buildPlan(epoch int) *epochPlan {
	order := make([]int32, r.total)
	for i := range order {
		order[i] = int32(i)
	}
	if r.opts.Shuffle {
		shuffleInt32(order, newEpochRNG(r.opts.Seed, epoch))
	}
	global := r.opts.BatchSize * r.opts.WorldSize
	p := &epochPlan{epoch: epoch, rows: make([]int32, 0, r.total), starts: []int{0}}
	emit := func(rows []int32) {
		p.rows = append(p.rows, rows...)
		p.starts = append(p.starts, len(p.rows))
	}
	pending := make([][]int32, len(r.buckets))
	if len(r.buckets) == 1 {
		n := len(order) / global * global
		for k := 0; k < n; k += global {
			emit(order[k : k+global])
		}
		pending[0] = order[n:]
	} else {
		for _, row := range order {
			b := r.shardBucket[r.shardOf(int(row))]
			pending[b] = append(pending[b], row)
			if len(pending[b]) == global {
				emit(pending[b])
				pending[b] = pending[b][:0]
			}
		}
	}
	if !r.opts.DropLast {
		for _, rest := range pending {
			if n := len(rest) / r.opts.WorldSize * r.opts.WorldSize; n > 0 {
				emit(rest[:n])
			}
		}
	}
	return p
}

// groupKey names a group: shard index and group index.
type groupKey struct{ shard, group int }

type cacheEntry struct {
	key   groupKey
	g     *group
	err   error
	ready chan struct{}
	elem  *list.Element
}

// groupCache is an LRU cache of decoded groups bounded by their buffer bytes. Concurrent requests for
// the same group share one load.
type groupCache struct {
	mu      sync.Mutex
	budget  int64
	used    int64
	entries map[groupKey]*cacheEntry
	lru     *list.List
}

func newGroupCache(budget int64) *groupCache {
	if budget < 0 {
		budget = -1
	}
	return &groupCache{budget: budget, entries: map[groupKey]*cacheEntry{}, lru: list.New()}
}

// get returns the group for key with a reference the caller must drop (group.unref), loading it
// with load (which returns a group holding one reference) if it is not cached.
func (c *groupCache) get(ctx context.Context, key groupKey, load func() (*group, error)) (*group, error) {
	if c.budget < 0 {
		return load()
	}
	for {
		c.mu.Lock()
		e, ok := c.entries[key]
		if !ok {
			break // load it below, with c.mu held
		}
		select {
		case <-e.ready:
			// Loaded entries in the map always hold a group (failed loads are removed).
			e.g.ref()
			c.lru.MoveToFront(e.elem)
			c.mu.Unlock()
			return e.g, nil
		default:
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		// Loop: take the reference under the lock, if the entry was not evicted meanwhile.
	}
	e := &cacheEntry{key: key, ready: make(chan struct{})}
	e.elem = c.lru.PushFront(e)
	c.entries[key] = e
	c.mu.Unlock()

	g, err := load()

	c.mu.Lock()
	e.g, e.err = g, err
	if err != nil {
		c.lru.Remove(e.elem)
		delete(c.entries, key)
	} else {
		g.ref() // the cache's reference
		c.used += g.size
		c.evictLocked(e)
	}
	close(e.ready)
	c.mu.Unlock()
	return g, err
}

// evictLocked drops least recently used, loaded entries other than keep while over budget.
func (c *groupCache) evictLocked(keep *cacheEntry) {
	for el := c.lru.Back(); el != nil && c.used > c.budget; {
		prev := el.Prev()
		v := el.Value.(*cacheEntry)
		loaded := false
		select {
		case <-v.ready:
			loaded = true
		default:
		}
		if v != keep && loaded {
			c.lru.Remove(el)
			delete(c.entries, v.key)
			c.used -= v.g.size
			v.g.unref()
		}
		el = prev
	}
}

func (c *groupCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		select {
		case <-e.ready:
			if e.g != nil {
				e.g.unref()
			}
		default:
		}
	}
	c.entries = map[groupKey]*cacheEntry{}
	c.lru.Init()
	c.used = 0
}

// handlePool keeps at most max shard files open (more while all are in use), closing the least
// recently used idle ones.
type handlePool struct {
	alloc memory.Allocator
	mu    sync.Mutex
	max   int
	open  map[int]*handleEntry
	lru   *list.List
}

type handleEntry struct {
	idx  int
	h    *shardHandle
	refs int
	elem *list.Element
}

func newHandlePool(max int, alloc memory.Allocator) *handlePool {
	return &handlePool{alloc: alloc, max: max, open: map[int]*handleEntry{}, lru: list.New()}
}

func (p *handlePool) acquire(idx int, s *shard) (*shardHandle, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.open[idx]
	if !ok {
		h, err := s.open(p.alloc)
		if err != nil {
			return nil, nil, err
		}
		e = &handleEntry{idx: idx, h: h}
		e.elem = p.lru.PushFront(e)
		p.open[idx] = e
		for el := p.lru.Back(); el != nil && len(p.open) > p.max; {
			prev := el.Prev()
			if v := el.Value.(*handleEntry); v.refs == 0 && v != e {
				_ = v.h.close()
				p.lru.Remove(el)
				delete(p.open, v.idx)
			}
			el = prev
		}
	} else {
		p.lru.MoveToFront(e.elem)
	}
	e.refs++
	return e.h, func() {
		p.mu.Lock()
		e.refs--
		p.mu.Unlock()
	}, nil
}

func (p *handlePool) closeAll() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, e := range p.open {
		errs = append(errs, e.h.close())
	}
	p.open = map[int]*handleEntry{}
	p.lru.Init()
	return errors.Join(errs...)
}
