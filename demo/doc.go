// Package demo is sprint's CPU demonstration: it distils the shipped shapes teacher into
// one-step students (sCM+LADD and its ablations), samples the teacher and every student from
// the same held-out prompts and noise, scores them with the shapes dataset's exact detector and
// a Fréchet distance, and writes report.md with PNG grids.
//
// It is a user of package job (which wires runs), not part of it; nothing else imports it.
package demo
