// Package controllers holds the reconcilers for Collection, User and SearchRequest. They are
// thin: they turn desired state into calls on internal packages and write status once per loop.
package controllers
