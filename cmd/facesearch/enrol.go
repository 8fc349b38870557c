package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"golang.org/x/sync/errgroup"

	"github.com/facesearch/facesearch-operator/internal/bulk"
	"github.com/facesearch/facesearch-operator/internal/progress"
)

// associateBatch is AssociateFaces' limit of FaceIds in one call.
const associateBatch = 100

// runEnrol is `facesearch enrol`: users made from photos, one face each, through the
// endpoint. It can be run again after it was stopped: a photo whose ExternalImageId is among
// the user's faces already is skipped, and one that was indexed but not yet associated is
// answered by IndexFaces with the face stored before (the store's ImageId and
// ExternalImageId rule, docs/store.md), so no photo's face is stored twice.
func runEnrol(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("enrol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	collection := fs.String("collection", "", "the collection to enrol into (required; it must exist)")
	user := fs.String("user", "", "the UserId that the photos given as arguments are of")
	dir := fs.String("dir", "", "a folder with one subfolder per user, named by its UserId, holding that user's photos")
	parallel := fs.Int("parallel", 4, "how many photos to index at once")
	var cf clientFlags
	cf.bind(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: facesearch enrol --collection ID --user USERID [flags] PHOTO...\n       facesearch enrol --collection ID --dir FOLDER [flags]")
		fs.PrintDefaults()
	}
	args, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	var photos []enrolPhoto
	switch {
	case *collection == "" || *parallel < 1:
		fs.Usage()
		return errors.New("want --collection and --parallel of 1 or more")
	case *dir != "" && *user == "" && len(args) == 0:
		var ignored int
		if photos, ignored, err = dirPhotos(*dir); err != nil {
			return err
		}
		if ignored > 0 {
			fmt.Fprintf(stderr, "facesearch enrol: ignored %d photos directly in %s: each user's photos go in a subfolder named by the UserId\n", ignored, *dir)
		}
	case *dir == "" && *user != "" && len(args) > 0:
		if photos, err = userPhotos(*user, args); err != nil {
			return err
		}
	default:
		fs.Usage()
		return errors.New("want either --user and photos, or --dir alone")
	}
	if len(photos) == 0 {
		return errors.New("no JPEG or PNG photos to enrol")
	}
	client, err := cf.client()
	if err != nil {
		return err
	}
	// A mistyped collection fails here, once, rather than once per user.
	if _, err := client.DescribeCollection(ctx, &rekognition.DescribeCollectionInput{CollectionId: collection}); err != nil {
		return apiError("DescribeCollection", err)
	}

	mode := progress.Auto
	if cf.quiet {
		mode = progress.Quiet
	}
	e := &enrolment{client: client, collection: *collection, users: map[string]*enrolUser{}}
	todo, err := e.prepare(ctx, photos, stderr)
	if err != nil {
		return err
	}
	e.bar = progress.New(stderr, progress.Options{Mode: mode, Total: len(photos), Unit: "photos", Label: "enrolling"})
	e.bar.Skip(len(photos) - len(todo))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(*parallel)
	for _, p := range todo {
		g.Go(func() error {
			e.index(gctx, p)
			return gctx.Err()
		})
	}
	werr := g.Wait()
	e.bar.Done()
	failed := e.printSummary(stdout)
	switch {
	case werr != nil:
		return werr
	case failed > 0:
		return fmt.Errorf("%d of %d photos failed (see above)", failed, len(photos))
	}
	return nil
}

// enrolPhoto is one photo of one user.
type enrolPhoto struct {
	user, path string
	// externalID is the photo's ExternalImageId: its path relative to --dir (or to the
	// working directory), in the characters Rekognition allows.
	externalID string
}

// enrolUser is one user's progress: counts, and the faces still to associate.
type enrolUser struct {
	order                            int
	photos                           int
	indexed, already, noFace, failed int
	pending                          int               // photos still being indexed
	newFaces                         map[string]string // FaceId -> photo, to associate
	createErr                        error
}

// enrolment is one run of enrol. Its mutex guards users; the endpoint is called without it.
type enrolment struct {
	client     *rekognition.Client
	collection string
	bar        *progress.Bar

	mu    sync.Mutex
	users map[string]*enrolUser
}

// prepare makes each user (an existing one is fine) and lists its faces, and returns the
// photos still to index: those whose ExternalImageId none of the user's faces has.
func (e *enrolment) prepare(ctx context.Context, photos []enrolPhoto, stderr io.Writer) ([]enrolPhoto, error) {
	for _, p := range photos {
		u := e.users[p.user]
		if u == nil {
			u = &enrolUser{order: len(e.users), newFaces: map[string]string{}}
			e.users[p.user] = u
		}
		u.photos++
	}
	have := map[string]map[string]bool{}
	for _, id := range e.userIDs() {
		u := e.users[id]
		_, err := e.client.CreateUser(ctx, &rekognition.CreateUserInput{CollectionId: &e.collection, UserId: aws.String(id)})
		// CreateUser of an existing UserId is answered ConflictException: its model declares
		// no ResourceAlreadyExistsException.
		if err != nil && errorCode(err) != "ConflictException" {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			u.createErr = apiError("CreateUser", err)
			fmt.Fprintf(stderr, "%s: %v\n", id, u.createErr)
			continue
		}
		if have[id], err = e.externalIDs(ctx, id); err != nil {
			return nil, apiError("ListFaces", err)
		}
	}
	var todo []enrolPhoto
	for _, p := range photos {
		u := e.users[p.user]
		switch {
		case u.createErr != nil:
			u.failed++
		case have[p.user][p.externalID]:
			u.already++
		default:
			u.pending++
			todo = append(todo, p)
		}
	}
	return todo, nil
}

// userIDs are the users in the order of their first photo.
func (e *enrolment) userIDs() []string {
	ids := make([]string, len(e.users))
	for id, u := range e.users {
		ids[u.order] = id
	}
	return ids
}

// externalIDs are the ExternalImageIds of the user's faces.
func (e *enrolment) externalIDs(ctx context.Context, user string) (map[string]bool, error) {
	ids := map[string]bool{}
	p := rekognition.NewListFacesPaginator(e.client, &rekognition.ListFacesInput{
		CollectionId: &e.collection, UserId: aws.String(user), MaxResults: aws.Int32(4096)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, f := range page.Faces {
			ids[aws.ToString(f.ExternalImageId)] = true
		}
	}
	return ids, nil
}

// index indexes one photo's largest face; the last photo of a user to finish associates
// the user's new faces.
func (e *enrolment) index(ctx context.Context, p enrolPhoto) {
	faceID, outcome := e.indexFace(ctx, p)
	if ctx.Err() != nil {
		return // stopped: the photo is neither done nor failed; a rerun does it
	}
	e.bar.Add(1)
	e.mu.Lock()
	u := e.users[p.user]
	switch {
	case faceID != "":
		u.newFaces[faceID] = p.path
	case outcome == "no face":
		u.noFace++
	default:
		u.failed++
	}
	u.pending--
	last := u.pending == 0
	var faces map[string]string
	if last {
		faces, u.newFaces = u.newFaces, nil
	}
	e.mu.Unlock()
	if last {
		e.associate(ctx, p.user, faces)
	}
}

// indexFace returns the FaceId of the photo's indexed face, or why there is none ("no face"
// or "failed"), having said why on the bar.
func (e *enrolment) indexFace(ctx context.Context, p enrolPhoto) (string, string) {
	data, err := os.ReadFile(p.path)
	if err != nil {
		e.bar.Logf("%s: %v", p.path, err)
		return "", "failed"
	}
	out, err := e.client.IndexFaces(ctx, &rekognition.IndexFacesInput{
		CollectionId: &e.collection, Image: &types.Image{Bytes: data},
		ExternalImageId: aws.String(p.externalID), MaxFaces: aws.Int32(1),
	})
	if err != nil {
		if ctx.Err() == nil {
			e.bar.Logf("%s: %v", p.path, apiError("IndexFaces", err))
		}
		return "", "failed"
	}
	if len(out.FaceRecords) == 0 || out.FaceRecords[0].Face == nil {
		why := "no face found"
		var reasons []string
		for _, u := range out.UnindexedFaces {
			for _, r := range u.Reasons {
				reasons = append(reasons, string(r))
			}
		}
		if len(reasons) > 0 {
			why = "a face, not indexed: " + strings.Join(reasons, ", ")
		}
		e.bar.Logf("%s: %s", p.path, why)
		return "", "no face"
	}
	return aws.ToString(out.FaceRecords[0].Face.FaceId), ""
}

// associate associates the user's new faces, a batch of up to 100 at a time, and counts each
// face as indexed, or as failed where the endpoint refused it.
func (e *enrolment) associate(ctx context.Context, user string, faces map[string]string) {
	ids := make([]string, 0, len(faces))
	for id := range faces {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		batch := ids[:min(associateBatch, len(ids))]
		ids = ids[len(batch):]
		out, err := e.client.AssociateFaces(ctx, &rekognition.AssociateFacesInput{
			CollectionId: &e.collection, UserId: aws.String(user), FaceIds: batch})
		refused := map[string]string{}
		if err != nil {
			for _, id := range batch {
				refused[id] = apiError("AssociateFaces", err).Error()
			}
		} else {
			for _, u := range out.UnsuccessfulFaceAssociations {
				var reasons []string
				for _, r := range u.Reasons {
					reasons = append(reasons, string(r))
				}
				refused[aws.ToString(u.FaceId)] = "not associated: " + strings.Join(reasons, ", ")
			}
		}
		for id, why := range refused {
			if ctx.Err() == nil {
				e.bar.Logf("%s: %s", faces[id], why)
			}
		}
		e.mu.Lock()
		e.users[user].indexed += len(batch) - len(refused)
		e.users[user].failed += len(refused)
		e.mu.Unlock()
	}
}

// printSummary writes a line per user and the totals, and returns how many photos failed.
func (e *enrolment) printSummary(w io.Writer) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := e.userIDs()
	var total enrolUser
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tPHOTOS\tINDEXED\tALREADY THERE\tNO FACE\tFAILED")
	for _, id := range ids {
		u := e.users[id]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", id, u.photos, u.indexed, u.already, u.noFace, u.failed)
		total.photos += u.photos
		total.indexed += u.indexed
		total.already += u.already
		total.noFace += u.noFace
		total.failed += u.failed
	}
	fmt.Fprintf(tw, "total: %d users\t%d\t%d\t%d\t%d\t%d\n", len(ids), total.photos, total.indexed, total.already, total.noFace, total.failed)
	tw.Flush()
	return total.failed
}

// isPhoto says whether a file is one the endpoint takes, by its name (as bulk-enrol decides).
func isPhoto(name string) bool { return bulk.IsPhoto(name) }

// dirPhotos lists DIR/<UserId>/<photo>, users and photos in name order, and counts the
// photos directly in DIR, which belong to no user.
func dirPhotos(dir string) ([]enrolPhoto, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var photos []enrolPhoto
	ignored := 0
	for _, e := range entries {
		if !e.IsDir() {
			if isPhoto(e.Name()) {
				ignored++
			}
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, 0, err
		}
		for _, f := range files {
			if f.Type().IsRegular() && isPhoto(f.Name()) {
				rel := filepath.Join(e.Name(), f.Name())
				photos = append(photos, enrolPhoto{user: e.Name(), path: filepath.Join(dir, rel), externalID: sanitizeID(rel)})
			}
		}
	}
	return photos, ignored, nil
}

// userPhotos are the photos given as arguments, named by their path relative to the working
// directory (by their file name where that path would climb out of it).
func userPhotos(user string, paths []string) ([]enrolPhoto, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	var photos []enrolPhoto
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a file (--dir takes a folder of users)", p)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(wd, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			rel = filepath.Base(abs)
		}
		photos = append(photos, enrolPhoto{user: user, path: p, externalID: sanitizeID(rel)})
	}
	return photos, nil
}
