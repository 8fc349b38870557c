// Package annotate draws face boxes and their labels on an image, from the ratio boxes that
// Rekognition answers (BoundingBox: Left, Top, Width and Height as fractions of the image).
package annotate
