package controllers

import (
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// Options are what the controllers need besides the manager.
type Options struct {
	Search  *search.Service
	Indexes workload.IndexRunner
	// CompactionInterval is the longest a deleted face's bytes stay in storage (default 5m).
	CompactionInterval time.Duration
}

// Setup registers the three reconcilers with a manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	c := mgr.GetClient()
	if err := (&CollectionReconciler{
		Client: c, APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorderFor("collection-controller"), //nolint:staticcheck
		Search: opts.Search, Indexes: opts.Indexes, CompactionInterval: opts.CompactionInterval,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("while setting up the collection controller: %w", err)
	}
	if err := (&UserReconciler{
		Client: c, Recorder: mgr.GetEventRecorderFor("user-controller"), //nolint:staticcheck
		Search: opts.Search,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("while setting up the user controller: %w", err)
	}
	if err := (&SearchRequestReconciler{
		Client: c, Recorder: mgr.GetEventRecorderFor("searchrequest-controller"), //nolint:staticcheck
		Search: opts.Search,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("while setting up the searchrequest controller: %w", err)
	}
	return nil
}
