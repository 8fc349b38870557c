// Package progress shows how far a long command is: a bar redrawn in place on a terminal,
// a plain line now and then in a log, nothing when asked to be quiet.
package progress
