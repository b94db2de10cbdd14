package train

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext returns a context cancelled by the first SIGINT or SIGTERM. A Run given it
// finishes the step in progress, saves a checkpoint and returns OutcomeInterrupted (exit 0).
// Call stop to restore the default signal behaviour.
func SignalContext(parent context.Context) (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}
