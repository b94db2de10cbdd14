// Command sprint distils text-to-image diffusion models into one-to-four-step generators
// (SANA-Sprint: sCM + LADD), trains and evaluates them. Run `sprint --help` for the verbs.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"
)

// commandFactories holds the constructors of the top-level verbs; each verb's file registers
// its own in an init function, so that verbs live beside each other without a central list.
var commandFactories []func() *cobra.Command

func register(f func() *cobra.Command) { commandFactories = append(commandFactories, f) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sprint",
		Short: "Distil diffusion models into 1-4 step generators (SANA-Sprint: sCM + LADD) on GoMLX",
		Long: `sprint distils a flow-matching text-to-image teacher (SANA) into a one-to-four-step
student with continuous-time consistency (sCM) and latent adversarial distillation (LADD),
then samples and evaluates it. Every verb reads local files only; nothing is downloaded.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmds := make([]*cobra.Command, 0, len(commandFactories))
	for _, f := range commandFactories {
		cmds = append(cmds, f())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the CLI and turns errors, and panics from deeper layers, into a message and an
// exit status: 1 for a failed command, 2 for a crash that should be reported as a bug.
func run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "sprint: internal error (please report): %v\n", r)
			code = 2
		}
	}()
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			if ee.err != nil {
				fmt.Fprintf(os.Stderr, "sprint: %v\n", ee.err)
			}
			return ee.code
		}
		fmt.Fprintf(os.Stderr, "sprint: %v\n", err)
		return 1
	}
	return 0
}

// exitError lets a verb choose its exit status (e.g. a run stopped by its time budget).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
