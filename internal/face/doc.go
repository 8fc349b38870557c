// Package face is the face engine: what Amazon Rekognition does inside IndexFaces and
// SearchFacesByImage/SearchUsersByImage, without Kubernetes or storage.
//
// An Engine loads a model pack (a directory with manifest.json and ONNX files, see
// Manifest) and runs it with ONNX Runtime:
//
//  1. decode: JPEG, PNG or WebP only, size and pixel limits checked before pixels are
//     allocated, EXIF orientation applied (decodeImage);
//  2. detect: the whole image at the detector's input size, plus overlapping tiles when
//     the image is large enough that a 40 px face would shrink below the detector's reach;
//     boxes merged with NMS (detectionRegions, decodeUltraFace);
//  3. landmarks: 68 points on the face box, reduced to eyes, nose tip and mouth corners;
//     their eyelids and inner lips give EyesOpen and MouthOpen when asked for (Attributes;
//     dlib-shape-predictor-5 packs have 5 points and give neither);
//  4. align: a least-squares similarity transform onto the 112x112 ArcFace template;
//     pose and quality (brightness, sharpness) are measured here;
//  5. embed: the aligned crop through the embedder, L2-normalised.
//
// IndexImage, SearchImage and DetectImage apply Rekognition's policies on top (largest
// first, MaxFaces, QualityFilter, FACE_NOT_LARGEST; DetectImage embeds nothing). Similarity maps cosine to Rekognition's 0-100 scale
// with the pack's calibration. Bad input gives an *errs.Error with a Rekognition exception code.
//
// An Engine is safe for concurrent use: it holds MaxConcurrent workers, each with its own
// ONNX sessions and buffers, and a call waits for a free worker (or its context).
package face
