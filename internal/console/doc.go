// Package console serves the web console: pages, under /console/ on the endpoint's own
// listener, that show where faces were found, which one was searched and who matched, over
// the same search path and access keys as the Rekognition-compatible endpoint.
package console
