// Package filename turns free text (a model name, a category, a validation prompt's label) into
// one component of a file name, by replacing the characters that would split it into folders or
// that shells and URLs treat specially.
//
// It is not a path cleaner: it neither resolves nor validates paths, and it keeps every other
// character, so its results are readable but not guaranteed portable to every file system.
package filename
