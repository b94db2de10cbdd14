package data

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
)

// ValueStats summarizes a set of numbers.
type ValueStats struct {
	Count          int64
	Min, Max, Mean float64
	// Std is the population standard deviation.
	Std float64
}

// String is "mean ± std [min, max] (n=count)".
func (v ValueStats) String() string {
	if v.Count == 0 {
		return "(no values)"
	}
	return fmt.Sprintf("mean %.4g ± %.4g [%.4g, %.4g] (n=%d)", v.Mean, v.Std, v.Min, v.Max, v.Count)
}

// accumulator sums in float64 (per call first, then into the totals, to limit rounding).
type accumulator struct {
	n           int64
	min, max    float64
	sum, sumSq  float64
	initialised bool
}

func (a *accumulator) addFloat32(vals []float32) {
	if len(vals) == 0 {
		return
	}
	if !a.initialised {
		a.min, a.max = math.Inf(1), math.Inf(-1)
		a.initialised = true
	}
	var s, s2 float64
	for _, v := range vals {
		x := float64(v)
		s += x
		s2 += x * x
		if x < a.min {
			a.min = x
		}
		if x > a.max {
			a.max = x
		}
	}
	a.sum += s
	a.sumSq += s2
	a.n += int64(len(vals))
}

func (a *accumulator) add(x float64) {
	if !a.initialised {
		a.min, a.max = math.Inf(1), math.Inf(-1)
		a.initialised = true
	}
	a.sum += x
	a.sumSq += x * x
	a.min = math.Min(a.min, x)
	a.max = math.Max(a.max, x)
	a.n++
}

func (a *accumulator) merge(b *accumulator) {
	if !b.initialised {
		return
	}
	if !a.initialised {
		*a = *b
		return
	}
	a.n += b.n
	a.sum += b.sum
	a.sumSq += b.sumSq
	a.min = math.Min(a.min, b.min)
	a.max = math.Max(a.max, b.max)
}

func (a *accumulator) stats() ValueStats {
	if a.n == 0 {
		return ValueStats{}
	}
	mean := a.sum / float64(a.n)
	v := a.sumSq/float64(a.n) - mean*mean
	return ValueStats{Count: a.n, Min: a.min, Max: a.max, Mean: mean, Std: math.Sqrt(math.Max(v, 0))}
}

// Stats summarizes rows.
type Stats struct {
	Rows int
	// Latent and TextEmbedding are over all elements; LatentChannels per latent channel; TextTokens over
	// the embedding elements of real tokens only (mask 1).
	Latent, TextEmbedding, TextTokens ValueStats
	LatentChannels                    []ValueStats
	// Tokens is the number of mask-1 tokens per row; PromptChars the prompt length in bytes.
	Tokens, PromptChars ValueStats
	EmptyPrompts        int
	Categories          map[string]int
	// Control is over all control-latent elements (Count 0 when the rows have none).
	Control ValueStats
}

// StatsCollector accumulates Stats; it is not safe for concurrent use.
type StatsCollector struct {
	rows                  int
	latent, text, textTok accumulator
	channels              []accumulator
	tokens, chars         accumulator
	empty                 int
	categories            map[string]int
	control               accumulator
}

// Add accounts for one row.
func (c *StatsCollector) Add(r *Row) {
	c.rows++
	c.latent.addFloat32(r.Latent)
	c.control.addFloat32(r.Control)
	c.text.addFloat32(r.TextEmbedding)
	ch := r.LatentShape[0]
	per := r.LatentShape[1] * r.LatentShape[2]
	if len(c.channels) < ch {
		c.channels = append(c.channels, make([]accumulator, ch-len(c.channels))...)
	}
	for k := 0; k < ch && (k+1)*per <= len(r.Latent); k++ {
		c.channels[k].addFloat32(r.Latent[k*per : (k+1)*per])
	}
	d := r.TextShape[1]
	ntok := 0
	for i, m := range r.TextMask {
		if m == 1 {
			ntok++
			if (i+1)*d <= len(r.TextEmbedding) {
				c.textTok.addFloat32(r.TextEmbedding[i*d : (i+1)*d])
			}
		}
	}
	c.tokens.add(float64(ntok))
	c.chars.add(float64(len(r.Prompt)))
	if r.Prompt == "" {
		c.empty++
	}
	if r.Category != "" {
		if c.categories == nil {
			c.categories = map[string]int{}
		}
		c.categories[r.Category]++
	}
}

// Merge adds the rows of another collector.
func (c *StatsCollector) Merge(o *StatsCollector) {
	c.rows += o.rows
	c.latent.merge(&o.latent)
	c.control.merge(&o.control)
	c.text.merge(&o.text)
	c.textTok.merge(&o.textTok)
	for len(c.channels) < len(o.channels) {
		c.channels = append(c.channels, accumulator{})
	}
	for k := range o.channels {
		c.channels[k].merge(&o.channels[k])
	}
	c.tokens.merge(&o.tokens)
	c.chars.merge(&o.chars)
	c.empty += o.empty
	for k, v := range o.categories {
		if c.categories == nil {
			c.categories = map[string]int{}
		}
		c.categories[k] += v
	}
}

// Stats returns the summary so far.
func (c *StatsCollector) Stats() Stats {
	s := Stats{Rows: c.rows, Latent: c.latent.stats(), TextEmbedding: c.text.stats(), TextTokens: c.textTok.stats(),
		Tokens: c.tokens.stats(), PromptChars: c.chars.stats(), EmptyPrompts: c.empty, Categories: map[string]int{},
		Control: c.control.stats()}
	for k := range c.channels {
		s.LatentChannels = append(s.LatentChannels, c.channels[k].stats())
	}
	for k, v := range c.categories {
		s.Categories[k] = v
	}
	return s
}

// VerifyReport is the result of a full scan.
type VerifyReport struct {
	Shards, Groups, Rows int
	// BadRows counts rows that failed a check; BadGroups groups that could not be decoded at all.
	BadRows, BadGroups int
	// Errors holds the first MaxErrors problems, each naming the file and the row (or rows).
	Errors []string
	// DuplicateKeys counts keys seen more than once.
	DuplicateKeys int
	Stats         Stats
}

// MaxErrors bounds VerifyReport.Errors.
const MaxErrors = 100

// OK reports whether the scan found no problem.
func (v *VerifyReport) OK() bool { return v.BadRows == 0 && v.BadGroups == 0 && v.DuplicateKeys == 0 }

// Verify reads every row of every shard (bypassing the cache), checks it as batch reading does (sizes,
// mask values, finite values, non-null key and prompt) and collects statistics. Unlike batch reading it
// does not stop at the first problem. progress, if not nil, is called with the rows done so far. The
// error is non-nil only if ctx is cancelled.
func (r *Reader) Verify(ctx context.Context, progress func(rows int)) (*VerifyReport, error) {
	rep := &VerifyReport{Shards: len(r.shards)}
	var mu sync.Mutex
	seen := make(map[string]int, r.total)
	total := &StatsCollector{}
	addErr := func(err error) {
		if len(rep.Errors) < MaxErrors {
			rep.Errors = append(rep.Errors, err.Error())
		}
	}
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < r.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				si := next
				next++
				mu.Unlock()
				if si >= len(r.shards) || ctx.Err() != nil {
					return
				}
				s := r.shards[si]
				h, release, err := r.files.acquire(si, s)
				if err != nil {
					mu.Lock()
					rep.BadGroups += s.Groups
					addErr(err)
					mu.Unlock()
					continue
				}
				for g := 0; g < s.Groups && ctx.Err() == nil; g++ {
					gr, err := h.readGroup(ctx, s, g)
					local := &StatsCollector{}
					var keys []string
					var rowErrs []error
					if err == nil {
						for i := 0; i < gr.rows; i++ {
							row, err := gr.row(i)
							if err != nil {
								rowErrs = append(rowErrs, err)
								continue
							}
							local.Add(row)
							keys = append(keys, row.Key)
						}
						gr.unref()
					}
					mu.Lock()
					rep.Groups++
					if err != nil {
						rep.BadGroups++
						addErr(err)
					}
					rep.BadRows += len(rowErrs)
					for _, e := range rowErrs {
						addErr(e)
					}
					rep.Rows += local.rows
					for _, k := range keys {
						seen[k]++
						if seen[k] == 2 {
							rep.DuplicateKeys++
						}
					}
					total.Merge(local)
					done := rep.Rows + rep.BadRows
					mu.Unlock()
					if progress != nil {
						progress(done)
					}
				}
				release()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Stats = total.Stats()
	sort.Strings(rep.Errors)
	return rep, nil
}

// SampleStats decodes up to n rows picked uniformly without replacement (by Permutation with seed 0)
// and summarizes them.
func (r *Reader) SampleStats(ctx context.Context, n int) (Stats, []RowRef, error) {
	c := &StatsCollector{}
	perm := Permutation(r.total, 0, 0)
	if n > len(perm) {
		n = len(perm)
	}
	refs := make([]RowRef, 0, n)
	for _, g := range perm[:n] {
		ref := r.Ref(g)
		row, err := r.ReadRow(ctx, ref)
		if err != nil {
			return Stats{}, nil, err
		}
		c.Add(row)
		refs = append(refs, ref)
	}
	return c.Stats(), refs, nil
}
