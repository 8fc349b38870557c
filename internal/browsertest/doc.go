// Package browsertest starts the installed Chromium headless for tests, through chromedp, and
// keeps their screenshots where a person can look at them.
package browsertest
