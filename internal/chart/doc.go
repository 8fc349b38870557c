// Package chart tests what ships the operator: the Helm chart in charts/facesearch (lint,
// render, security settings, drift from the generated CRDs and RBAC, a server-side dry run
// against a real API server) and the Dockerfile (every path it copies exists or is built).
package chart
