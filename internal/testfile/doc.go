// Package testfile writes the small input files tests make for themselves (configs, prompt
// lists, captions) in a test's folder. It is for tests only; it is not a general file helper
// and makes no fixtures of its own.
package testfile
