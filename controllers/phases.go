package controllers

import (
	"context"
	"errors"

	ctrl "sigs.k8s.io/controller-runtime"
)

// phase is one step of a reconcile; it records facts on its scope and may ask to stop early
// (stop) or to come back later (a RequeueAfter).
type phase[S any] func(ctx context.Context, s S) (res ctrl.Result, stop bool, err error)

// doReconcile runs phases in order until one stops or fails, keeping the soonest requeue. It
// never returns a Result together with an error: the error's backoff decides the retry.
func doReconcile[S any](ctx context.Context, s S, phases ...phase[S]) (ctrl.Result, error) {
	var result ctrl.Result
	var errs []error
	for _, p := range phases {
		res, stop, err := p(ctx, s)
		if err != nil {
			errs = append(errs, err)
		}
		result = soonest(result, res)
		if stop || err != nil {
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

// soonest is the Result that comes back first; a zero RequeueAfter means no requeue.
func soonest(a, b ctrl.Result) ctrl.Result {
	if b.RequeueAfter > 0 && (a.RequeueAfter == 0 || b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}
