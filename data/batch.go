package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Batch is one rank's batch: B rows of one latent shape, as host tensors.
type Batch struct {
	// Latent is (B, C, H, W), in ReaderOptions.LatentDType (float32 by default).
	Latent *tensors.Tensor
	// TextEmbedding is (B, L, D), in ReaderOptions.TextDType (float32 by default).
	TextEmbedding *tensors.Tensor
	// TextMask is (B, L) float32: 1 for tokens, 0 for padding.
	TextMask *tensors.Tensor
	// Control is (B, C, H, W) in the latent's dtype when the shards have control latents, else nil.
	Control *tensors.Tensor
	// Prompts, Keys, Categories and Meta are per row ("" where a value is null).
	Prompts, Keys, Categories, Meta []string
	// Widths and Heights are per row (0 where null).
	Widths, Heights []int
	// Rows are where the rows come from.
	Rows []RowRef
	// Epoch and Index place this batch: it is global batch Index of epoch Epoch.
	Epoch, Index int
	// Next is the reader position after this batch: save it to resume with the following batch.
	Next Position
}

// Size is the number of rows in the batch.
func (b *Batch) Size() int { return len(b.Keys) }

// Iterator yields batches in order. Next and Close must not be called concurrently.
type Iterator struct {
	r      *Reader
	ctx    context.Context
	cancel context.CancelFunc
	last   int // last epoch to yield (-1: no end)
	pos    Position
	err    error

	// Background mode (Prefetch > 0).
	queue chan *job
	wg    sync.WaitGroup
}

type job struct {
	epoch, index int
	rows         []int32
	next         Position
	batch        *Batch
	err          error
	done         chan struct{}
}

// Iterate returns an endless iterator over epochs starting at from (the zero Position starts at epoch 0).
// Each epoch reshuffles (when shuffling). Close the iterator when done.
func (r *Reader) Iterate(ctx context.Context, from Position) (*Iterator, error) {
	return r.iterate(ctx, from, -1)
}

// IterateEpoch returns an iterator over the batches of one epoch; Next returns io.EOF after the last.
func (r *Reader) IterateEpoch(ctx context.Context, epoch int) (*Iterator, error) {
	return r.iterate(ctx, Position{Epoch: epoch}, epoch)
}

func (r *Reader) iterate(ctx context.Context, from Position, last int) (*Iterator, error) {
	if from.Fingerprint != "" && from.Fingerprint != r.fingerprint {
		return nil, fmt.Errorf("data reader: position %+v was saved with a different dataset or reader settings "+
			"(fingerprint %s, this reader %s): shards, seed, shuffle, batch size, world size and drop last must match",
			from, from.Fingerprint, r.fingerprint)
	}
	if from.Epoch < 0 || from.Index < 0 || from.Index > r.steps {
		return nil, fmt.Errorf("data reader: position epoch %d index %d: want epoch >= 0 and 0 <= index <= %d (batches per epoch)",
			from.Epoch, from.Index, r.steps)
	}
	ctx, cancel := context.WithCancel(ctx)
	it := &Iterator{r: r, ctx: ctx, cancel: cancel, last: last, pos: normalizePos(from, r.steps)}
	it.pos.Fingerprint = r.fingerprint
	if r.opts.Prefetch > 0 {
		it.start()
	}
	return it, nil
}

func normalizePos(p Position, steps int) Position {
	if p.Index >= steps {
		return Position{Epoch: p.Epoch + 1, Index: 0, Fingerprint: p.Fingerprint}
	}
	return p
}

// nextJob returns the job at the iterator's position and advances it, or nil at the end.
func (it *Iterator) nextJob() *job {
	if it.last >= 0 && it.pos.Epoch > it.last {
		return nil
	}
	plan := it.r.planFor(it.pos.Epoch)
	j := &job{epoch: it.pos.Epoch, index: it.pos.Index,
		rows: plan.rankRows(it.pos.Index, it.r.opts.Rank, it.r.opts.WorldSize), done: make(chan struct{})}
	it.pos = normalizePos(Position{Epoch: it.pos.Epoch, Index: it.pos.Index + 1, Fingerprint: it.pos.Fingerprint}, it.r.steps)
	j.next = it.pos
	return j
}

func (it *Iterator) start() {
	opts := it.r.opts
	it.queue = make(chan *job, opts.Prefetch)
	work := make(chan *job)
	it.wg.Add(1 + opts.Workers)
	go func() { // producer
		defer it.wg.Done()
		defer close(work)
		defer close(it.queue)
		for {
			j := it.nextJob()
			if j == nil {
				return
			}
			select {
			case work <- j:
			case <-it.ctx.Done():
				return
			}
			select {
			case it.queue <- j:
			case <-it.ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < opts.Workers; w++ {
		go func() {
			defer it.wg.Done()
			for j := range work {
				j.batch, j.err = it.r.buildBatch(it.ctx, j)
				close(j.done)
			}
		}()
	}
}

// Next returns the next batch. An error (a bad row, an unreadable file, a cancelled context) is final:
// later calls return it again. IterateEpoch's iterators return io.EOF after the epoch.
func (it *Iterator) Next() (*Batch, error) {
	if it.err != nil {
		return nil, it.err
	}
	var j *job
	if it.queue == nil {
		if err := it.ctx.Err(); err != nil {
			it.err = err
			return nil, err
		}
		if j = it.nextJob(); j == nil {
			it.err = io.EOF
			return nil, io.EOF
		}
		j.batch, j.err = it.r.buildBatch(it.ctx, j)
	} else {
		var ok bool
		select {
		case j, ok = <-it.queue:
		case <-it.ctx.Done():
		}
		if j == nil {
			if !ok && it.ctx.Err() == nil {
				it.err = io.EOF
			} else {
				it.err = it.ctx.Err()
			}
			return nil, it.err
		}
		select {
		case <-j.done:
		case <-it.ctx.Done():
			it.err = it.ctx.Err()
			return nil, it.err
		}
	}
	if j.err != nil {
		it.err = j.err
		it.cancel()
		return nil, j.err
	}
	return j.batch, nil
}

// Close stops background work and waits for it. It is safe to call more than once.
func (it *Iterator) Close() error {
	it.cancel()
	it.wg.Wait()
	if it.err == nil {
		it.err = errors.New("data reader: iterator closed")
	}
	return nil
}

// buildBatch reads the rows of a job into host tensors.
func (r *Reader) buildBatch(ctx context.Context, j *job) (*Batch, error) {
	n := len(j.rows)
	si0 := r.shardOf(int(j.rows[0]))
	lat := r.shards[si0].Layout
	c, h, w := lat.LatentShape[0], lat.LatentShape[1], lat.LatentShape[2]
	l, d := r.text.TextShape[0], r.text.TextShape[1]
	b := &Batch{
		Latent:        tensors.FromShape(shapes.Make(r.opts.LatentDType, n, c, h, w)),
		TextEmbedding: tensors.FromShape(shapes.Make(r.opts.TextDType, n, l, d)),
		TextMask:      tensors.FromShape(shapes.Make(dtypes.Float32, n, l)),
		Prompts:       make([]string, n),
		Keys:          make([]string, n),
		Categories:    make([]string, n),
		Meta:          make([]string, n),
		Widths:        make([]int, n),
		Heights:       make([]int, n),
		Rows:          make([]RowRef, n),
		Epoch:         j.epoch,
		Index:         j.index,
		Next:          j.next,
	}
	// Visit rows in file order so that each group is fetched once and read sequentially.
	slots := make([]int, n)
	for i := range slots {
		slots[i] = i
	}
	sort.Slice(slots, func(a, b int) bool { return j.rows[slots[a]] < j.rows[slots[b]] })

	latentSize, textSize := c*h*w, l*d
	if r.text.Control {
		b.Control = tensors.FromShape(shapes.Make(r.opts.LatentDType, n, c, h, w))
	}
	var fillErr error
	fill := func(latFlat, textFlat any, maskFlat []float32, ctlFlat any) {
		var gr *group
		var gKey groupKey
		defer func() {
			if gr != nil {
				gr.unref()
			}
		}()
		for _, slot := range slots {
			if err := ctx.Err(); err != nil {
				fillErr = err
				return
			}
			global := int(j.rows[slot])
			si := r.shardOf(global)
			s := r.shards[si]
			row := global - r.rowStart[si]
			g, i := s.groupOf(row)
			if gr == nil || gKey != (groupKey{si, g}) {
				if gr != nil {
					gr.unref() // rows are visited in file order: this group is done
				}
				var err error
				if gr, err = r.group(ctx, si, g); err != nil {
					fillErr = err
					return
				}
				gKey = groupKey{si, g}
			}
			if s.Layout.LatentShape != lat.LatentShape {
				fillErr = gr.rowError(i, "", "latent shape %v in a batch of %v (bucketing bug)", s.Layout.LatentShape, lat.LatentShape)
				return
			}
			raw, err := gr.raw(i)
			if err != nil {
				fillErr = err
				return
			}
			// decode writes one stored tensor of the row into its buffer, finite values only.
			decode := func(what string, flat any, off int, stored []byte, dt dtypes.DType) error {
				bad, err := decodeInto(flat, off, stored, dt)
				if err != nil {
					return err
				}
				if bad >= 0 {
					return gr.rowError(i, raw.key, "%s element %d is %s, want finite values", what, bad, describeElem(stored, dt, bad))
				}
				return nil
			}
			if fillErr = decode("latent", latFlat, slot*latentSize, raw.latent, s.Layout.LatentDType); fillErr != nil {
				return
			}
			if fillErr = decode("text_embedding", textFlat, slot*textSize, raw.text, s.Layout.TextDType); fillErr != nil {
				return
			}
			if ctlFlat != nil {
				if fillErr = decode("control", ctlFlat, slot*latentSize, raw.control, s.Layout.LatentDType); fillErr != nil {
					return
				}
			}
			m := maskFlat[slot*l : (slot+1)*l]
			for k, v := range raw.mask {
				m[k] = float32(v)
			}
			b.Keys[slot], b.Prompts[slot], b.Categories[slot], b.Meta[slot] = raw.key, raw.prompt, raw.category, raw.meta
			b.Widths[slot], b.Heights[slot] = raw.width, raw.height
			b.Rows[slot] = RowRef{Shard: s.Path, Row: row}
		}
	}
	var textErr, maskErr, ctlErr error
	latErr := b.Latent.MutableFlatData(func(latFlat any) {
		textErr = b.TextEmbedding.MutableFlatData(func(textFlat any) {
			maskErr = tensors.MutableFlatData(b.TextMask, func(maskFlat []float32) {
				if b.Control == nil {
					fill(latFlat, textFlat, maskFlat, nil)
					return
				}
				ctlErr = b.Control.MutableFlatData(func(ctlFlat any) { fill(latFlat, textFlat, maskFlat, ctlFlat) })
			})
		})
	})
	err := fillErr
	if err == nil {
		err = errors.Join(latErr, textErr, maskErr, ctlErr)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// describeElem formats element i of raw stored as dt.
func describeElem(raw []byte, dt dtypes.DType, i int) string {
	tmp := make([]float32, 1)
	sz := dt.Size()
	decodeToFloat32(tmp, raw[i*sz:(i+1)*sz], dt)
	return fmt.Sprint(tmp[0])
}
