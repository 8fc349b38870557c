package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/search"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// decimal is how status writes a Rekognition float (controllers' decimal).
func decimal(f float32) string { return strconv.FormatFloat(float64(f), 'f', 4, 32) }

// searchStatus is a SearchRequest's status for a search's answer, as the controller writes it.
func searchStatus(res *search.SearchUsersResult) facesearchv1.SearchRequestStatus {
	detail := func(b struct{ Left, Top, Width, Height, Confidence float32 }) facesearchv1.FaceDetail {
		return facesearchv1.FaceDetail{Confidence: decimal(b.Confidence), BoundingBox: facesearchv1.BoundingBox{
			Left: decimal(b.Left), Top: decimal(b.Top), Width: decimal(b.Width), Height: decimal(b.Height)}}
	}
	st := facesearchv1.SearchRequestStatus{FaceModelVersion: res.FaceModelVersion,
		Conditions: []metav1.Condition{{Type: facesearchv1.SucceededCondition, Status: metav1.ConditionTrue, Reason: "Searched", Message: "searched", LastTransitionTime: metav1.Now()}}}
	if f := res.SearchedFace; f != nil {
		d := detail(struct{ Left, Top, Width, Height, Confidence float32 }{f.BoundingBox.Left, f.BoundingBox.Top, f.BoundingBox.Width, f.BoundingBox.Height, f.Confidence})
		st.SearchedFace = &d
	}
	for _, u := range res.UnsearchedFaces {
		b := u.Detail.BoundingBox
		uf := facesearchv1.UnsearchedFace{FaceDetail: detail(struct{ Left, Top, Width, Height, Confidence float32 }{b.Left, b.Top, b.Width, b.Height, u.Detail.Confidence})}
		for _, r := range u.Reasons {
			uf.Reasons = append(uf.Reasons, string(r))
		}
		st.UnsearchedFaces = append(st.UnsearchedFaces, uf)
	}
	for _, m := range res.UserMatches {
		st.UserMatches = append(st.UserMatches, facesearchv1.UserMatch{Similarity: decimal(m.Similarity),
			User: facesearchv1.MatchedUser{UserID: m.UserID, UserStatus: facesearchv1.UserStatus(m.UserStatus)}})
	}
	return st
}

func testSearchRequests(t *testing.T, e *env) {
	ctx := context.Background()
	cp := testenv.ControlPlane(t)
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(facesearchv1.AddToScheme(scheme))
	k8s, err := client.New(cp.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	srv := e.server(t, k8s)

	group := groupPhoto(t, 640, 320, []tile{
		{person: e.persons[3], photo: e.people[e.persons[3]][9], side: 220, x: 30, y: 50},
		{person: e.persons[4], photo: e.people[e.persons[4]][9], side: 160, x: 400, y: 80},
	})
	e.put(t, "cameras/door/0001.jpg", group)
	res, err := e.svc.SearchUsersByImage(ctx, "staff", search.Image{Bytes: group}, search.SearchUsersOptions{UserMatchThreshold: 80, MaxUsers: 5})
	if err != nil || res.SearchedFace == nil || len(res.UserMatches) == 0 || res.UserMatches[0].UserID != e.persons[3] {
		t.Fatalf("the search of the door photo: %v, %+v", err, res)
	}
	status := searchStatus(res)
	create := func(name, collection string, img facesearchv1.ImageSource) {
		t.Helper()
		sr := &facesearchv1.SearchRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
			Spec: facesearchv1.SearchRequestSpec{CollectionRef: facesearchv1.CollectionReference{Name: collection}, Image: img}}
		if err := k8s.Create(ctx, sr); err != nil {
			t.Fatal(err)
		}
		sr.Status = status
		if err := k8s.Status().Update(ctx, sr); err != nil {
			t.Fatal(err)
		}
	}
	create("door", "staff-resource", facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: "cameras/door/0001.jpg"}})
	create("inline", "staff-resource", facesearchv1.ImageSource{Bytes: group})
	create("in-a-configmap", "staff-resource", facesearchv1.ImageSource{ConfigMapKeyRef: &facesearchv1.KeySelector{Name: "photos", Key: "door.jpg"}})
	create("out-of-scope", "staff-resource", facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: "private/door.jpg"}})
	create("back-door", "visitors-resource", facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: "cameras/door/0001.jpg"}})

	admin, staff, look := newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv)
	admin.mustSignIn(adminKey, adminSecret)
	staff.mustSignIn(staffKey, staffSecret)
	look.mustSignIn(lookKey, lookSecret)

	cases := []struct {
		name    string
		b       *browser
		path    string
		status  int
		image   bool // the photo under the boxes, else a blank canvas
		noteHas string
	}{
		{"an S3Object in the image sources", admin, "/console/searchrequests/default/door", http.StatusOK, true, ""},
		{"inline bytes", staff, "/console/searchrequests/default/inline", http.StatusOK, true, ""},
		{"a ConfigMap", admin, "/console/searchrequests/default/in-a-configmap", http.StatusOK, false, "ConfigMap"},
		{"an S3Object outside the image sources", admin, "/console/searchrequests/default/out-of-scope", http.StatusOK, false, "InvalidS3ObjectException"},
		{"another collection's, for a limited key", staff, "/console/searchrequests/default/back-door", http.StatusNotFound, false, ""},
		{"one that does not exist", staff, "/console/searchrequests/default/nobody", http.StatusNotFound, false, ""},
		{"another namespace", admin, "/console/searchrequests/kube-system/door", http.StatusNotFound, false, ""},
		{"a key that may not search", look, "/console/searchrequests/default/door", http.StatusForbidden, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.b.get(tc.path)
			if p.StatusCode != tc.status {
				t.Fatalf("%s, want %d: %s", p.Status, tc.status, text(byID(p.doc, "content")))
			}
			if tc.status != http.StatusOK {
				if strings.Contains(p.body, "visitors") && tc.b == staff {
					t.Error("a refusal names the other collection")
				}
				return
			}
			if (byID(p.doc, "photo") != nil) != tc.image || (byID(p.doc, "blank-canvas") != nil) == tc.image {
				t.Fatalf("photo %v, blank canvas %v; want the photo %v", byID(p.doc, "photo") != nil, byID(p.doc, "blank-canvas") != nil, tc.image)
			}
			if !strings.Contains(text(byID(p.doc, "image-note")), tc.noteHas) {
				t.Errorf("note %q, want it to say %q", text(byID(p.doc, "image-note")), tc.noteHas)
			}
			rects := boxes(t, p.doc)
			want := append([]facesearchv1.FaceDetail{*status.SearchedFace}, func() (d []facesearchv1.FaceDetail) {
				for _, u := range status.UnsearchedFaces {
					d = append(d, u.FaceDetail)
				}
				return d
			}()...)
			if len(rects) != len(want) {
				t.Fatalf("%d boxes, status has %d faces", len(rects), len(want))
			}
			for i, r := range rects {
				for k, v := range map[string]string{"data-left": want[i].BoundingBox.Left, "data-top": want[i].BoundingBox.Top, "data-width": want[i].BoundingBox.Width, "data-height": want[i].BoundingBox.Height} {
					got, _ := strconv.ParseFloat(attr(r, k), 32)
					exp, _ := strconv.ParseFloat(v, 32)
					if float32(got) != float32(exp) {
						t.Errorf("box %d: %s=%s, status says %s", i, k, attr(r, k), v)
					}
				}
			}
			if !strings.Contains(attr(rects[0], "class"), "searched") {
				t.Error("the searched face is not marked")
			}
			if m := byClass(byID(p.doc, "user-matches"), "user-match"); len(m) == 0 || attr(m[0], "data-user-id") != e.persons[3] {
				t.Errorf("matches %v, want %s first", m, e.persons[3])
			}
		})
	}
	t.Run("the list", func(t *testing.T) {
		for _, tc := range []struct {
			b    *browser
			want int
		}{{admin, 5}, {staff, 4}} {
			p := tc.b.get("/console/searchrequests")
			rows := byClass(byID(p.doc, "searchrequests"), "searchrequest")
			if len(rows) != tc.want {
				t.Errorf("%d rows, want %d", len(rows), tc.want)
			}
			for _, r := range rows {
				if tc.b == staff && attr(r, "data-collection-id") != "staff" {
					t.Errorf("the staff key sees a SearchRequest of %s", attr(r, "data-collection-id"))
				}
			}
		}
	})

	// A User resource's face names its image: the crop is found through it.
	person := e.persons[2]
	e.put(t, "cameras/passports/"+person+".jpg", readFile(t, e.people[person][10]))
	indexed, err := e.svc.IndexFaces(ctx, "staff", search.Image{S3Object: &search.S3Object{Name: "cameras/passports/" + person + ".jpg"}},
		search.IndexFacesOptions{ExternalImageID: "passport", MaxFaces: 1})
	if err != nil || len(indexed.FaceRecords) != 1 {
		t.Fatalf("IndexFaces: %v", err)
	}
	passport := indexed.FaceRecords[0].Record.FaceID
	if _, err := e.svc.AssociateFaces(ctx, "staff", person, []string{passport}, 0, store.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	user := &facesearchv1.User{ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(strings.ReplaceAll(person, "_", "-")), Namespace: testNamespace},
		Spec: facesearchv1.UserSpec{CollectionRef: facesearchv1.CollectionReference{Name: "staff-resource"}, UserID: person,
			Faces: []facesearchv1.UserFace{{Name: "passport", Image: facesearchv1.ImageSource{S3Object: &facesearchv1.S3Object{Name: "cameras/passports/" + person + ".jpg"}}}}}}
	if err := k8s.Create(ctx, user); err != nil {
		t.Fatal(err)
	}
	crop := "/console/collections/staff/faces/" + passport + "/crop"
	if p := admin.get(crop); p.StatusCode != http.StatusOK || p.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("the crop of a User resource's face: %s", p.Status)
	}
	// Without the User resources, "passport" names no object in the image sources.
	alone := newBrowser(t, e.server(t, nil))
	alone.mustSignIn(adminKey, adminSecret)
	if p := alone.get(crop); p.StatusCode != http.StatusNotFound {
		t.Errorf("the crop without the User resources: %s, want 404", p.Status)
	}
}
