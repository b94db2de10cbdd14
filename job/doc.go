// Package job assembles sprint's training jobs from a config: it opens the data, loads or
// initialises the networks, picks the phases' losses from package distill, adds the validation
// hook, and hands everything to package train's run loop. `sprint train-teacher` and
// `sprint distill` are thin wrappers around New and Execute; the CPU demo (Demo) chains them
// with sampling and the shapes metrics.
//
// It holds no algorithm (that is distill's) and no loop (that is train's): only the wiring
// between data, model, distill, train and checkpoints.
package job
