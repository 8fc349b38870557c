package controllers

import (
	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
)

// conditionReasons is the one table from error codes to the condition reasons that
// api/v1alpha1 declares, so that a condition never carries an undeclared reason.
var conditionReasons = map[errs.Code]string{
	errs.ResourceNotFound:              facesearchv1.CollectionNotFoundReason,
	errs.ResourceNotReady:              facesearchv1.CollectionNotReadyReason,
	errs.InvalidImageFormat:            facesearchv1.InvalidImageFormatReason,
	errs.ImageTooLarge:                 facesearchv1.ImageTooLargeReason,
	errs.InvalidS3Object:               facesearchv1.InvalidS3ObjectReason,
	errs.InvalidParameter:              facesearchv1.InvalidParameterReason,
	errs.ProvisionedThroughputExceeded: facesearchv1.ProvisionedThroughputExceededReason,
	errs.FaceModelUnavailable:          facesearchv1.FaceModelUnavailableReason,
	errs.FaceModelMismatch:             facesearchv1.FaceModelMismatchReason,
	errs.CollectionOwnedElsewhere:      facesearchv1.CollectionOwnedElsewhereReason,
	errs.CredentialsNotFound:           facesearchv1.CredentialsSecretNotFoundReason,
	errs.StorageUnavailable:            facesearchv1.StorageUnavailableReason,
	errs.AccessDenied:                  facesearchv1.StorageUnavailableReason,
}

// reasonFor is the condition reason of err; an error whose code is not in the table gets
// fallback (InternalError where nothing more is known).
func reasonFor(err error, fallback string) string {
	if r, ok := conditionReasons[errs.CodeOf(err)]; ok {
		return r
	}
	return fallback
}
