package controllers

import (
	"context"
	"errors"

	ctrl "sigs.k8s.io/controller-runtime"
)

// phase is one step of a reconcile; it records facts on its scope and may ask to stop early
// (stop) or to come back later (a RequeueAfter).
type phase[S any] func(ctx context.Context, s S) (res ctrl.Result, stop bool, err error)

// doReconcile runs phases in order until one stops or fails, keeping the soonest requeue.
func doReconcile[S any](ctx context.Context, s S, phases ...phase[S]) (ctrl.Result, error) {
	var result ctrl.Result
	var errs []error
	for _, p := range phases {
		res, stop, err := p(ctx, s)
		if err != nil {
			errs = append(errs, err)
		}
		if res.RequeueAfter > 0 && (result.RequeueAfter == 0 || res.RequeueAfter < result.RequeueAfter) {
			result.RequeueAfter = res.RequeueAfter
		}
		if stop || err != nil {
			break
		}
	}
	return result, errors.Join(errs...)
}
