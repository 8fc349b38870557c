package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/errs"
	"github.com/facesearch/facesearch-operator/internal/face"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// TestSearchRequestTTLHasADefault: a SearchRequest created without ttlSecondsAfterFinished
// gets one hour, so that its inline photo and its answer do not stay in etcd for ever.
func TestSearchRequestTTLHasADefault(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	sr := newSearch(ns, "no-ttl", "absent", facesearchv1.ImageSource{Bytes: []byte("not a photo")})
	g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
	g.Expect(sr.Spec.TTLSecondsAfterFinished).NotTo(BeNil(), "no default TTL")
	g.Expect(*sr.Spec.TTLSecondsAfterFinished).To(Equal(int32(3600)))
}

// eventsOf lists the Events whose involvedObject is obj.
func eventsOf(g Gomega, obj client.Object) []corev1.Event {
	var list corev1.EventList
	g.Expect(k8sClient.List(context.Background(), &list, client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{"involvedObject.uid": string(obj.GetUID())})).To(Succeed())
	return list.Items
}

// waitEvent waits for an Event of obj with the reason and returns every Event of obj.
func waitEvent(g *WithT, obj client.Object, reason string) []corev1.Event {
	var events []corev1.Event
	g.Eventually(func(g Gomega) {
		events = eventsOf(g, obj)
		var reasons []string
		for _, e := range events {
			reasons = append(reasons, e.Reason)
		}
		g.Expect(reasons).To(ContainElement(reason))
	}, waitReady, pollEvery).Should(Succeed())
	return events
}

// TestEventsDoNotNamePeople: Events are read by more people than the objects they are about
// and outlive them (for an hour), so neither a search's Events nor a User's name the person,
// unless the SearchRequest asks for it. The answer itself is in status.userMatches.
func TestEventsDoNotNamePeople(t *testing.T) {
	requireSuite(t)
	g := NewWithT(t)
	ctx := context.Background()
	ns := newTestNamespace(t, g)
	bucket := "events-" + ns
	faces := labelledFaces(t)
	const person = "John_Simm"
	col := newCollection(ns, "people", bucket, 1)
	g.Expect(k8sClient.Create(ctx, col)).To(Succeed())
	var objs []string
	for _, f := range faces[person][:enrolFaces] {
		objs = append(objs, uploadImage(t, bucket, f))
	}
	u := newUser(ns, "people", person, objs)
	g.Expect(k8sClient.Create(ctx, u)).To(Succeed())
	waitCollectionReady(g, col)
	waitUserReady(g, u, enrolFaces)
	for _, e := range waitEvent(g, u, "FacesAssociated") {
		g.Expect(e.Message).NotTo(ContainSubstring(person), "Event %s of the User", e.Reason)
	}

	photo := uploadImage(t, bucket, faces[person][enrolFaces+2])
	sr := newSearch(ns, "quiet", "people", s3Image(photo))
	g.Expect(k8sClient.Create(ctx, sr)).To(Succeed())
	cond := waitFinished(g, sr)
	g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
	g.Expect(sr.Status.UserMatches).NotTo(BeEmpty())
	g.Expect(sr.Status.UserMatches[0].User.UserID).To(Equal(person), "the answer is in the status")
	events := waitEvent(g, sr, facesearchv1.CompletedReason)
	for _, e := range events {
		g.Expect(e.Message).NotTo(ContainSubstring(person), "Event %s of the SearchRequest", e.Reason)
		if e.Reason == facesearchv1.CompletedReason {
			g.Expect(e.Message).To(ContainSubstring("1 match"))
		}
	}
	g.Expect(cond.Message).To(ContainSubstring(person), "the condition is status, as userMatches is")

	// Asked for, the Event names the best match.
	named := newSearch(ns, "named", "people", s3Image(photo))
	named.Spec.MatchesInEvents = facesearchv1.MatchesInEventsBestMatch
	g.Expect(k8sClient.Create(ctx, named)).To(Succeed())
	waitFinished(g, named)
	var completed []string
	for _, e := range waitEvent(g, named, facesearchv1.CompletedReason) {
		if e.Reason == facesearchv1.CompletedReason {
			completed = append(completed, e.Message)
		}
	}
	g.Expect(completed).To(ContainElement(And(ContainSubstring("1 match"), ContainSubstring("best match "+person))))
}

func TestCompletedEventMessage(t *testing.T) {
	match := &search.SearchUsersResult{SearchedFace: &face.FaceDetail{Confidence: 99},
		UserMatches: []search.UserMatch{{UserID: "alice", Similarity: 99.5}, {UserID: "bob", Similarity: 85}}}
	for _, tt := range []struct {
		res   *search.SearchUsersResult
		named bool
		want  string
	}{
		{match, false, "search completed: 2 match(es)"},
		{match, true, "search completed: 2 match(es); best match alice at 99.5000"},
		{&search.SearchUsersResult{SearchedFace: &face.FaceDetail{}}, false, "search completed: 0 match(es)"},
		{&search.SearchUsersResult{}, true, "search completed: no face found in the image"},
	} {
		if got := completedEventMessage(tt.res, tt.named); got != tt.want {
			t.Errorf("completedEventMessage(%d matches, %v) = %q, want %q", len(tt.res.UserMatches), tt.named, got, tt.want)
		}
	}
}

// TestTTLWithAnOlderCRD: under a CRD with no default (helm upgrade leaves CRDs as they
// were), an unset TTL is the default, not for ever.
func TestTTLWithAnOlderCRD(t *testing.T) {
	sr := &facesearchv1.SearchRequest{}
	if got := ttlSecondsAfterFinished(sr); got != facesearchv1.DefaultTTLSecondsAfterFinished {
		t.Errorf("unset TTL = %d, want %d", got, facesearchv1.DefaultTTLSecondsAfterFinished)
	}
	sr.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
	if got := ttlSecondsAfterFinished(sr); got != 0 {
		t.Errorf("TTL 0 = %d", got)
	}
	done := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	sr.Spec.TTLSecondsAfterFinished, sr.Status.CompletionTime = nil, &done
	if res := (&SearchRequestReconciler{}).ttlResult(sr); res.RequeueAfter != 0 {
		t.Errorf("finished 2h ago with no TTL: wait %v, want none (delete now)", res.RequeueAfter)
	}
}

func TestRedactUserID(t *testing.T) {
	inner := errs.New(errs.ResourceNotFound, "user alice not found")
	err := redactUserID(fmt.Errorf("while associating faces: %w", inner), "alice")
	if strings.Contains(err.Error(), "alice") {
		t.Errorf("redacted error still names the user: %v", err)
	}
	if err.Error() != "while associating faces: ResourceNotFound: user <userId> not found" {
		t.Errorf("redacted error %q", err)
	}
	if errs.CodeOf(err) != errs.ResourceNotFound || !errors.Is(err, inner) {
		t.Errorf("redaction lost the error's code or chain: %v", errs.CodeOf(err))
	}
	for _, tt := range []struct{ msg, id, want string }{
		{`UserId "al" must match`, "al", `UserId "<userId>" must match`},
		{"a user", "a", "<userId> user"},
		{"malice alice alice-2", "alice", "malice <userId> <userId>-2"},
		{"nothing here", "bob", "nothing here"},
	} {
		if got := redactUserID(errors.New(tt.msg), tt.id).Error(); got != tt.want {
			t.Errorf("redact %q from %q = %q, want %q", tt.id, tt.msg, got, tt.want)
		}
	}
	if redactUserID(nil, "alice") != nil {
		t.Error("nil error became non-nil")
	}
	plain := errors.New("storage away")
	if got := redactUserID(plain, "alice"); got != plain { //nolint:errorlint // the very same error, not one that wraps it
		t.Error("an error that names no one was wrapped")
	}
}
