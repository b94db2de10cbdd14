package model

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX's graph idiom
)

// Gradient checkpointing per transformer block (model.grad_checkpointing; the reference trains
// with gradient checkpointing on, §9). Each block's input is a checkpoint (graph's
// Node.Checkpoint): its activation is kept, and the backward pass recomputes the block from it
// instead of keeping every intermediate activation of the block. The output of the last block
// and the features handed to the discriminator heads end the contagion (StopCheckpoint), so
// nothing downstream of the network is recomputed. The values are those of the plain forward;
// the reverse pass is the same computation in another order.

// blockInput marks the input of a transformer block as a checkpoint when checkpointing is on.
func blockInput(cfg Config, h *Node) *Node {
	if !cfg.GradCheckpointing {
		return h
	}
	return h.Checkpoint()
}

// blockResult ends a checkpointed stretch at a value read outside the blocks (the last block's
// output, a feature for the discriminator heads).
func blockResult(cfg Config, h *Node) *Node {
	if !cfg.GradCheckpointing {
		return h
	}
	return h.StopCheckpoint()
}
