// Package bulk enrols every photo under a bucket prefix straight into a collection's store,
// the face engine running in-process: the work of facesearch bulk-enrol, one worker of an
// Indexed Job per process, each taking the photos whose key hashes to it, committing them in
// batches and recording its progress in the bucket so that a worker killed at any point
// resumes and enrols no photo twice.
package bulk
