// Package search is the one path from an image to an answer, shared by the Rekognition HTTP
// API and the controllers: it finds the collection, runs the face engine of the collection's
// model version, writes to the store and fans searches out to the index shards.
package search
