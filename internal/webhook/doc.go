// Package webhook injects the facesearch sidecar into the application pods that ask for it:
// a mutating admission webhook served by every manager replica, and the serving certificate
// it keeps for itself when cert-manager does not provide one.
package webhook
