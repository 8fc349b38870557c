package search

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facesearch/facesearch-operator/internal/errs"
)

// Metrics of the search path, registered by the roles that serve it.
var (
	operationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "facesearch_operation_duration_seconds",
		Help:    "Duration of Rekognition operations on the search path (IndexFaces, SearchUsersByImage...), by outcome code.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"operation", "code"})
	stageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "facesearch_search_stage_duration_seconds",
		Help:    "Duration of the stages of a search: face (decode, detect, embed) and index (fan-out to shards and merge).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"stage"})
)

// RegisterMetrics adds the search path's metrics to a registry.
func RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{operationDuration, stageDuration} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// observe records an operation's duration with the code of its outcome ("" is OK).
func observe(operation string, start time.Time, err error) {
	code := string(errs.CodeOf(err))
	if code == "" {
		code = "OK"
	}
	operationDuration.WithLabelValues(operation, code).Observe(time.Since(start).Seconds())
}
