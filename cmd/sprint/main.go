// Command sprint distils text-to-image diffusion models into one-to-four-step generators
// (SANA-Sprint: sCM + LADD), trains and evaluates them. Run `sprint --help` for the verbs.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// commandFactories holds the constructors of the top-level verbs; each verb's file registers
// its own in an init function, so that verbs live beside each other without a central list.
var commandFactories []func() *cobra.Command

func register(f func() *cobra.Command) { commandFactories = append(commandFactories, f) }

// registerGroup registers a verb that only holds sub-verbs: its help and the constructors of
// its sub-verbs.
func registerGroup(use, short, long string, subs ...func() *cobra.Command) {
	register(func() *cobra.Command {
		cmd := &cobra.Command{Use: use, Short: short, Long: long}
		for _, sub := range subs {
			cmd.AddCommand(sub())
		}
		return cmd
	})
}

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
			reportPanic(os.Stderr, r, debug.Stack())
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

// debugEnv, when set to 1, makes an internal error print its whole stack.
const debugEnv = "SPRINT_DEBUG"

// reportPanic prints a crash that escaped every error path: what it was, where in sprint's
// code it happened (the innermost frame of this module below the panic), and the whole stack
// when SPRINT_DEBUG=1. User input must never reach here; a test keeps it that way.
func reportPanic(w io.Writer, r any, stack []byte) {
	fmt.Fprintf(w, "sprint: internal error (please report): %v\n", r)
	if at := panicSite(stack); at != "" {
		fmt.Fprintf(w, "sprint: at %s\n", at)
	}
	if os.Getenv(debugEnv) == "1" {
		fmt.Fprintf(w, "%s", stack)
	} else {
		fmt.Fprintf(w, "sprint: set %s=1 for the full stack\n", debugEnv)
	}
}

// panicSite returns "function (file:line)" of the first frame after runtime.gopanic that is
// sprint's own code, or "" if the stack has none.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	afterPanic := false
	for i := 0; i+1 < len(lines); i++ {
		fn := strings.TrimSpace(lines[i])
		if strings.HasPrefix(fn, "panic(") || strings.HasPrefix(fn, "runtime.gopanic") {
			afterPanic = true
			continue
		}
		if !afterPanic || strings.HasPrefix(fn, "runtime.") || !(strings.Contains(fn, "sprint-distill/sprint/") || strings.HasPrefix(fn, "main.")) {
			continue
		}
		loc := strings.TrimSpace(lines[i+1])
		if k := strings.LastIndex(loc, " +0x"); k > 0 {
			loc = loc[:k]
		}
		if k := strings.Index(loc, "sprint-distill/sprint/"); k >= 0 {
			loc = loc[k+len("sprint-distill/sprint/"):]
		} else {
			loc = filepath.Base(loc)
		}
		if k := strings.LastIndex(fn, "("); k > 0 {
			fn = fn[:k]
		}
		return fmt.Sprintf("%s (%s)", strings.TrimPrefix(fn, "github.com/sprint-distill/sprint/"), loc)
	}
	return ""
}
