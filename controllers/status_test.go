package controllers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// The unit tier: condition derivation, failure reasons and rules, with no client at all.

// declaredReasons are the condition reasons api/v1alpha1 declares.
var declaredReasons = map[string]bool{
	facesearchv1.ObservedReason: true, facesearchv1.AvailableReason: true, facesearchv1.CredentialsSecretNotFoundReason: true,
	facesearchv1.StorageUnavailableReason: true, facesearchv1.FaceModelMismatchReason: true, facesearchv1.FaceModelUnavailableReason: true,
	facesearchv1.IndexProgressingReason: true, facesearchv1.IndexScaledToZeroReason: true, facesearchv1.DeletingReason: true,
	facesearchv1.EraseFailedReason: true, facesearchv1.CollectionNotFoundReason: true, facesearchv1.CollectionNotReadyReason: true,
	facesearchv1.FacesIncompleteReason: true, facesearchv1.UserConflictReason: true, facesearchv1.CompletedReason: true,
	facesearchv1.InvalidImageFormatReason: true, facesearchv1.ImageTooLargeReason: true, facesearchv1.InvalidS3ObjectReason: true,
	facesearchv1.InvalidParameterReason: true, facesearchv1.InternalErrorReason: true, "NoFaces": true,
	facesearchv1.CollectionOwnedElsewhereReason:      true,
	facesearchv1.ProvisionedThroughputExceededReason: true,
}

func TestReasonForEveryCode(t *testing.T) {
	codes := []errs.Code{errs.ResourceNotFound, errs.ResourceAlreadyExists, errs.ResourceNotReady, errs.Conflict,
		errs.ServiceQuotaExceeded, errs.InvalidParameter, errs.InvalidPaginationToken, errs.InvalidImageFormat,
		errs.ImageTooLarge, errs.InvalidS3Object, errs.CredentialsNotFound, errs.AccessDenied, errs.FaceModelUnavailable,
		errs.FaceModelMismatch, errs.CollectionOwnedElsewhere, errs.StorageUnavailable, errs.GenerationGone, errs.Corrupt, errs.Internal,
		errs.ProvisionedThroughputExceeded}
	for _, code := range codes {
		t.Run(string(code), func(t *testing.T) {
			r := reasonFor(errs.New(code, "x"), facesearchv1.InternalErrorReason)
			if !declaredReasons[r] {
				t.Errorf("code %s gives the undeclared reason %q", code, r)
			}
		})
	}
	tests := []struct {
		err      error
		fallback string
		want     string
	}{
		{errs.New(errs.ImageTooLarge, "big"), facesearchv1.InternalErrorReason, facesearchv1.ImageTooLargeReason},
		{errs.New(errs.ResourceNotReady, "loading"), facesearchv1.InternalErrorReason, facesearchv1.CollectionNotReadyReason},
		{errs.New(errs.ProvisionedThroughputExceeded, "busy"), facesearchv1.InternalErrorReason, facesearchv1.ProvisionedThroughputExceededReason},
		{errs.New(errs.CredentialsNotFound, "no Secret"), facesearchv1.StorageUnavailableReason, facesearchv1.CredentialsSecretNotFoundReason},
		{errors.New("apiserver said no"), facesearchv1.StorageUnavailableReason, facesearchv1.StorageUnavailableReason},
		{errs.New(errs.Corrupt, "bad object"), facesearchv1.InternalErrorReason, facesearchv1.InternalErrorReason},
		{fmt.Errorf("%w; see spec.adoption", errs.New(errs.CollectionOwnedElsewhere, "taken")), facesearchv1.StorageUnavailableReason, facesearchv1.CollectionOwnedElsewhereReason},
	}
	for _, tt := range tests {
		if got := reasonFor(tt.err, tt.fallback); got != tt.want {
			t.Errorf("reasonFor(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// condition returns one condition's status and reason, "" when absent.
func condition(conds []metav1.Condition, t string) (metav1.ConditionStatus, string) {
	c := meta.FindStatusCondition(conds, t)
	if c == nil {
		return "", ""
	}
	return c.Status, c.Reason
}

func TestCollectionConditions(t *testing.T) {
	desc := &store.CollectionDescription{Collection: store.Collection{ID: "people", FaceModelVersion: "v1"}, FaceCount: 3}
	ready := &workload.IndexState{Ready: true}
	tests := []struct {
		name     string
		scope    collectionScope
		replicas int32
		deleting bool
		// want maps a condition type to its status and reason ("" status: absent).
		want map[string][2]string
	}{
		{"no Secret", collectionScope{storageErr: errs.New(errs.CredentialsNotFound, "Secret x not found")}, 1, false, map[string][2]string{
			facesearchv1.StorageReadyCondition: {"False", facesearchv1.CredentialsSecretNotFoundReason},
			facesearchv1.IndexReadyCondition:   {"Unknown", facesearchv1.IndexProgressingReason},
			facesearchv1.ReadyCondition:        {"False", facesearchv1.CredentialsSecretNotFoundReason},
			facesearchv1.DeletingCondition:     {"", ""},
		}},
		{"model mismatch", collectionScope{storageErr: errs.New(errs.FaceModelMismatch, "other model")}, 1, false, map[string][2]string{
			facesearchv1.StorageReadyCondition: {"False", facesearchv1.FaceModelMismatchReason},
			facesearchv1.ReadyCondition:        {"False", facesearchv1.FaceModelMismatchReason},
		}},
		{"owned elsewhere", collectionScope{storageErr: fmt.Errorf("%w; see spec.adoption", errs.New(errs.CollectionOwnedElsewhere, "another namespace's"))}, 1, false, map[string][2]string{
			facesearchv1.StorageReadyCondition: {"False", facesearchv1.CollectionOwnedElsewhereReason},
			facesearchv1.ReadyCondition:        {"False", facesearchv1.CollectionOwnedElsewhereReason},
		}},
		{"storage down", collectionScope{storageErr: errs.New(errs.StorageUnavailable, "refused")}, 1, false, map[string][2]string{
			facesearchv1.StorageReadyCondition: {"False", facesearchv1.StorageUnavailableReason},
		}},
		{"shards loading", collectionScope{desc: desc, index: &workload.IndexState{Message: "1 of 2 shards loaded"}}, 1, false, map[string][2]string{
			facesearchv1.StorageReadyCondition: {"True", facesearchv1.AvailableReason},
			facesearchv1.IndexReadyCondition:   {"False", facesearchv1.IndexProgressingReason},
			facesearchv1.ReadyCondition:        {"False", facesearchv1.IndexProgressingReason},
		}},
		{"scaled to zero", collectionScope{desc: desc, index: &workload.IndexState{}}, 0, false, map[string][2]string{
			facesearchv1.IndexReadyCondition: {"False", facesearchv1.IndexScaledToZeroReason},
			facesearchv1.ReadyCondition:      {"False", facesearchv1.IndexScaledToZeroReason},
		}},
		{"index error", collectionScope{desc: desc, indexErr: errors.New("apply failed")}, 1, false, map[string][2]string{
			facesearchv1.IndexReadyCondition: {"False", facesearchv1.InternalErrorReason},
		}},
		{"searchable", collectionScope{desc: desc, index: ready}, 1, false, map[string][2]string{
			facesearchv1.StorageReadyCondition: {"True", facesearchv1.AvailableReason},
			facesearchv1.IndexReadyCondition:   {"True", facesearchv1.AvailableReason},
			facesearchv1.ReadyCondition:        {"True", facesearchv1.AvailableReason},
		}},
		{"deleting", collectionScope{}, 1, true, map[string][2]string{
			facesearchv1.DeletingCondition: {"True", facesearchv1.DeletingReason},
			facesearchv1.ReadyCondition:    {"False", facesearchv1.DeletingReason},
		}},
		{"erase failing", collectionScope{deleting: errors.New("storage down"), deletingReason: facesearchv1.EraseFailedReason}, 1, true, map[string][2]string{
			facesearchv1.DeletingCondition: {"True", facesearchv1.EraseFailedReason},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.scope
			s.col = &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{Name: "people", Namespace: "team-a", Generation: 3}}
			s.col.Spec.Index.Replicas = ptr.To(tt.replicas)
			if tt.deleting {
				s.col.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			}
			setCollectionStatus(&s)
			for ct, want := range tt.want {
				status, reason := condition(s.col.Status.Conditions, ct)
				if string(status) != want[0] || reason != want[1] {
					t.Errorf("%s = %s/%s, want %s/%s", ct, status, reason, want[0], want[1])
				}
			}
			for _, c := range s.col.Status.Conditions {
				if !declaredReasons[c.Reason] || c.ObservedGeneration != 3 {
					t.Errorf("condition %s: reason %q declared %v, observedGeneration %d", c.Type, c.Reason, declaredReasons[c.Reason], c.ObservedGeneration)
				}
			}
		})
	}
}

func TestUserConditions(t *testing.T) {
	synced := func(status string, faces int, unsuccessful ...search.UnsuccessfulUserFace) *search.SyncUserFacesResult {
		r := &search.SyncUserFacesResult{User: &store.User{UserID: "alice", UserStatus: status}, Unsuccessful: unsuccessful}
		for i := 0; i < faces; i++ {
			r.Faces = append(r.Faces, store.FaceRecord{FaceID: string(rune('a' + i)), ExternalImageID: "img"})
		}
		return r
	}
	tests := []struct {
		name      string
		scope     userScope
		deleting  bool
		want      [2]string
		faceCount int32
	}{
		{"collection missing", userScope{blocked: errors.New("collection people not found"), blockedReason: facesearchv1.CollectionNotFoundReason}, false, [2]string{"False", facesearchv1.CollectionNotFoundReason}, 0},
		{"conflict", userScope{blocked: errors.New("User bob already manages"), blockedReason: facesearchv1.UserConflictReason}, false, [2]string{"False", facesearchv1.UserConflictReason}, 0},
		{"all faces", userScope{synced: synced(store.UserStatusActive, 2)}, false, [2]string{"True", facesearchv1.AvailableReason}, 2},
		{"no faces listed", userScope{synced: synced(store.UserStatusCreated, 0)}, false, [2]string{"True", "NoFaces"}, 0},
		{"an image failed", userScope{synced: synced(store.UserStatusActive, 1, search.UnsuccessfulUserFace{ExternalImageID: "b", Reasons: []string{search.ReasonNoFace}})}, false, [2]string{"False", facesearchv1.FacesIncompleteReason}, 1},
		{"deleting", userScope{}, true, [2]string{"False", facesearchv1.DeletingReason}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.scope
			s.user = &facesearchv1.User{ObjectMeta: metav1.ObjectMeta{Name: "alice", Generation: 2}}
			if tt.deleting {
				s.user.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			}
			setUserStatus(&s)
			status, reason := condition(s.user.Status.Conditions, facesearchv1.ReadyCondition)
			if string(status) != tt.want[0] || reason != tt.want[1] {
				t.Errorf("Ready = %s/%s, want %s/%s", status, reason, tt.want[0], tt.want[1])
			}
			if s.user.Status.FaceCount != tt.faceCount {
				t.Errorf("faceCount %d, want %d", s.user.Status.FaceCount, tt.faceCount)
			}
			if _, r := condition(s.user.Status.Conditions, facesearchv1.DeletingCondition); tt.deleting != (r != "") {
				t.Errorf("Deleting condition present %v, want %v", r != "", tt.deleting)
			}
		})
	}
}

func TestSearchRequestConditions(t *testing.T) {
	match := &search.SearchUsersResult{SearchedFace: &face.FaceDetail{Confidence: 99}, UserMatches: []search.UserMatch{{UserID: "alice", UserStatus: "ACTIVE", Similarity: 99.5}}}
	tests := []struct {
		name     string
		scope    searchRequestScope
		want     [2]string
		finished bool
	}{
		{"answered", searchRequestScope{result: match}, [2]string{"True", facesearchv1.CompletedReason}, true},
		{"no face", searchRequestScope{result: &search.SearchUsersResult{}}, [2]string{"True", facesearchv1.CompletedReason}, true},
		{"bad image", searchRequestScope{failed: errs.New(errs.InvalidImageFormat, "not a JPEG")}, [2]string{"False", facesearchv1.InvalidImageFormatReason}, true},
		{"no collection", searchRequestScope{failed: errs.New(errs.ResourceNotFound, "collection x not found")}, [2]string{"False", facesearchv1.CollectionNotFoundReason}, true},
		{"unexpected", searchRequestScope{failed: errors.New("boom")}, [2]string{"False", facesearchv1.InternalErrorReason}, true},
		{"index loading", searchRequestScope{waiting: errs.New(errs.ResourceNotReady, "loading")}, [2]string{"Unknown", facesearchv1.CollectionNotReadyReason}, false},
		{"storage outage", searchRequestScope{waiting: errs.New(errs.StorageUnavailable, "refused")}, [2]string{"Unknown", facesearchv1.StorageUnavailableReason}, false},
		{"decode budget full", searchRequestScope{waiting: errs.New(errs.ProvisionedThroughputExceeded, "busy")}, [2]string{"Unknown", facesearchv1.ProvisionedThroughputExceededReason}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.scope
			s.sr = &facesearchv1.SearchRequest{ObjectMeta: metav1.ObjectMeta{Name: "q", Generation: 1}}
			setSearchRequestStatus(&s)
			s.sr.Status.ObservedGeneration = 1
			status, reason := condition(s.sr.Status.Conditions, facesearchv1.SucceededCondition)
			if string(status) != tt.want[0] || reason != tt.want[1] {
				t.Errorf("Succeeded = %s/%s, want %s/%s", status, reason, tt.want[0], tt.want[1])
			}
			if s.sr.IsFinished() != tt.finished || (s.sr.Status.CompletionTime != nil) != tt.finished {
				t.Errorf("finished %v (completionTime %v), want %v", s.sr.IsFinished(), s.sr.Status.CompletionTime, tt.finished)
			}
			if s.sr.Status.StartTime == nil {
				t.Error("no startTime")
			}
		})
	}
	t.Run("a match is written in Rekognition's shape", func(t *testing.T) {
		s := searchRequestScope{sr: &facesearchv1.SearchRequest{}, result: match}
		setSearchRequestStatus(&s)
		if len(s.sr.Status.UserMatches) != 1 || s.sr.Status.UserMatches[0].User.UserID != "alice" || s.sr.Status.UserMatches[0].Similarity != "99.5000" {
			t.Errorf("userMatches %+v", s.sr.Status.UserMatches)
		}
	})
}

func TestUserIDOwner(t *testing.T) {
	at := func(sec int64) metav1.Time { return metav1.NewTime(time.Unix(sec, 0)) }
	user := func(name string, created int64) facesearchv1.User {
		return facesearchv1.User{ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-" + name), CreationTimestamp: at(created)}}
	}
	tests := []struct {
		name  string
		users []facesearchv1.User
		want  string
	}{
		{"none", nil, ""},
		{"one", []facesearchv1.User{user("a", 5)}, "a"},
		{"the oldest wins", []facesearchv1.User{user("b", 5), user("a", 9), user("c", 7)}, "b"},
		{"same second: first by name", []facesearchv1.User{user("zed", 5), user("amy", 5)}, "amy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := userIDOwner(tt.users)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("owner %q, want %q", name, tt.want)
			}
		})
	}
}

func TestDoReconcile(t *testing.T) {
	g := NewWithT(t)
	ran := 0
	step := func(res ctrl.Result, stop bool, err error) phase[*int] {
		return func(context.Context, *int) (ctrl.Result, bool, error) { ran++; return res, stop, err }
	}
	ctx := context.Background()
	res, err := doReconcile(ctx, &ran, step(ctrl.Result{RequeueAfter: time.Minute}, false, nil), step(ctrl.Result{RequeueAfter: time.Second}, false, nil), step(ctrl.Result{}, false, nil))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(time.Second), "the soonest requeue wins")
	g.Expect(ran).To(Equal(3))

	ran = 0
	res, _ = doReconcile(ctx, &ran, step(ctrl.Result{RequeueAfter: time.Second}, true, nil), step(ctrl.Result{}, false, nil))
	g.Expect(ran).To(Equal(1), "a phase that stops ends the loop")
	g.Expect(res.RequeueAfter).To(Equal(time.Second))

	ran = 0
	res, err = doReconcile(ctx, &ran, step(ctrl.Result{RequeueAfter: time.Second}, false, nil), step(ctrl.Result{RequeueAfter: time.Minute}, false, errors.New("boom")), step(ctrl.Result{}, false, nil))
	g.Expect(err).To(MatchError("boom"))
	g.Expect(res).To(Equal(ctrl.Result{}), "never a Result together with an error")
	g.Expect(ran).To(Equal(2))
}

func TestStatusChanged(t *testing.T) {
	before := &facesearchv1.Collection{ObjectMeta: metav1.ObjectMeta{Name: "people", ResourceVersion: "1"}}
	same := before.DeepCopy()
	same.ResourceVersion = "2" // metadata is not status
	same.Finalizers = []string{finalizer}
	if statusChanged(before, same) {
		t.Error("a change of metadata alone counted as a status change")
	}
	changed := before.DeepCopy()
	setCondition(changed, facesearchv1.ReadyCondition, metav1.ConditionTrue, facesearchv1.AvailableReason, "ok")
	if !statusChanged(before, changed) {
		t.Error("a new condition did not count as a status change")
	}
	// Setting the same condition again keeps its transition time: no change.
	again := changed.DeepCopy()
	setCondition(again, facesearchv1.ReadyCondition, metav1.ConditionTrue, facesearchv1.AvailableReason, "ok")
	if statusChanged(changed, again) {
		t.Error("the same condition set twice counted as a change")
	}
}
