// Package progress prints the progress of long evaluation jobs: count, rate and ETA, at most every
// few seconds. It is not a logging library.
package progress
