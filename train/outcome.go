package train

import (
	"fmt"
)

// Outcome says why a run stopped without an error.
type Outcome int

const (
	// OutcomeCompleted: the run reached train.max_steps (or its data ended).
	OutcomeCompleted Outcome = iota
	// OutcomeInterrupted: SIGINT/SIGTERM (context cancelled); a checkpoint was saved.
	OutcomeInterrupted
	// OutcomeTimeBudget: train.max_hours was reached; a checkpoint was saved.
	OutcomeTimeBudget
)

// Exit codes of the training verbs, which scripts/chain.sh relies on.
const (
	// ExitOK: completed, or interrupted by a signal (a person asked it to stop).
	ExitOK = 0
	// ExitError: the run failed; the last good checkpoint stays loadable.
	ExitError = 1
	// ExitResume (EX_TEMPFAIL): stopped at train.max_hours with a checkpoint; rerun with
	// --resume latest to continue.
	ExitResume = 75
)

// String implements fmt.Stringer.
func (o Outcome) String() string {
	switch o {
	case OutcomeCompleted:
		return "completed"
	case OutcomeInterrupted:
		return "interrupted"
	case OutcomeTimeBudget:
		return "time_budget"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// ExitCode is the process exit code for the outcome.
func (o Outcome) ExitCode() int {
	if o == OutcomeTimeBudget {
		return ExitResume
	}
	return ExitOK
}

// Result is what Execute returns.
type Result struct {
	Outcome    Outcome
	GlobalStep int64
	// Checkpoint is the path of the last checkpoint saved (or resumed from).
	Checkpoint string
}
