// Package atomicfile writes files so that a crash or a failed write leaves either the old
// file or the complete new one: a temporary sibling is written, fsynced, renamed into place
// and the directory fsynced. The FS interface lets tests inject faults at any step.
//
// It is not a file-system abstraction for reading: readers use the os package directly.
package atomicfile
