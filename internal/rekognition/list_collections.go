package rekognition

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// listCollections serves ListCollections. A key that may use every collection
// (and an unauthenticated caller) gets the backend's pages and tokens as they
// are: nothing in them is hidden from it. A key limited to some collections
// gets pages over the collections it may see only: the handler reads the
// backend's whole listing, keeps the visible ids in id order and pages over
// them with its own NextToken, which names only a visible id and is refused
// when altered. A page is short only when it is the last one.
func (h *handler) listCollections(ctx context.Context, c *call, in *ListCollectionsInput) (*ListCollectionsOutput, error) {
	if !c.authn || c.cred.AllowsAllCollections() {
		return h.backend.ListCollections(ctx, in)
	}
	var cur *collectionCursor
	if tok := deref(in.NextToken); tok != "" {
		var ok bool
		if cur, ok = decodeCollectionToken(c, tok); !ok {
			return nil, ErrInvalidPaginationToken("Invalid pagination token")
		}
	}
	ids, versions, err := h.visibleCollections(ctx, c.cred)
	if err != nil {
		return nil, err
	}
	start := 0
	if cur != nil {
		start = cur.resume(ids)
	}
	limit := defaultListCollections
	if in.MaxResults != nil && *in.MaxResults > 0 {
		limit = int(*in.MaxResults)
	}
	end := min(start+limit, len(ids))
	out := &ListCollectionsOutput{CollectionIds: ids[start:end], FaceModelVersions: []string{}}
	if versions != nil {
		out.FaceModelVersions = versions[start:end]
	}
	if end < len(ids) {
		out.NextToken = ptr(encodeCollectionToken(c, ids[end-1]))
	}
	return out, nil
}

// visibleCollections reads every page of the backend's ListCollections and
// returns the ids cred may use, sorted and each once, with their
// FaceModelVersions (nil when the backend answers none).
func (h *handler) visibleCollections(ctx context.Context, cred Credential) (ids, versions []string, err error) {
	type entry struct{ id, version string }
	var list []entry
	seen := map[string]bool{}
	tokens := map[string]bool{}
	withVersions := false
	in := &ListCollectionsInput{MaxResults: ptr(int32(maxPageSize))}
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		out, err := h.backend.ListCollections(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		if out == nil {
			break
		}
		withVersions = withVersions || len(out.FaceModelVersions) > 0
		for i, id := range out.CollectionIds {
			if seen[id] || !cred.Allows(id) {
				continue
			}
			seen[id] = true
			e := entry{id: id}
			if i < len(out.FaceModelVersions) {
				e.version = out.FaceModelVersions[i]
			}
			list = append(list, e)
		}
		next := deref(out.NextToken)
		if next == "" {
			break
		}
		if tokens[next] {
			return nil, nil, fmt.Errorf("backend ListCollections answered NextToken %q a second time", next)
		}
		tokens[next] = true
		in = &ListCollectionsInput{MaxResults: in.MaxResults, NextToken: &next}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	ids = make([]string, len(list))
	if withVersions {
		versions = make([]string, len(list))
	}
	for i, e := range list {
		ids[i] = e.id
		if withVersions {
			versions[i] = e.version
		}
	}
	return ids, versions, nil
}

// A ListCollections NextToken of a limited key is
//
//	base64url(version | MAC | fingerprint | prefix)
//
// where prefix is the last id of the page (its first collectionTokenIDBytes
// bytes, so that the token stays within the 255 characters of the model) and
// fingerprint the start of its SHA-256. The MAC (HMAC-SHA256, truncated) is
// keyed by a key derived from the caller's secret access key and covers the
// access key id: a token is good only for the key it was given to, survives a
// restart or a new leader (the secret is the same Secret everywhere), and an
// altered one is refused. The key's holder could make tokens of its own, but a
// token is only a position in the list of collections the key may see: it
// cannot widen that list.
const (
	collectionTokenVersion  = 1
	collectionTokenMACBytes = 16
	collectionTokenFPBytes  = 8
	collectionTokenIDBytes  = 160 // 1+16+8+160 bytes are 247 base64 characters
	collectionTokenHeader   = 1 + collectionTokenMACBytes + collectionTokenFPBytes
)

// collectionCursor is where a page ends: after the id with this fingerprint
// and prefix.
type collectionCursor struct {
	fp     [collectionTokenFPBytes]byte
	prefix string
}

func collectionFingerprint(id string) (fp [collectionTokenFPBytes]byte) {
	sum := sha256.Sum256([]byte(id))
	copy(fp[:], sum[:])
	return fp
}

func collectionTokenMAC(c *call, body []byte) []byte {
	derive := hmac.New(sha256.New, []byte(c.cred.SecretAccessKey))
	derive.Write([]byte("facesearch ListCollections NextToken"))
	m := hmac.New(sha256.New, derive.Sum(nil))
	m.Write([]byte{collectionTokenVersion})
	m.Write([]byte(c.keyID))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)[:collectionTokenMACBytes]
}

func encodeCollectionToken(c *call, lastID string) string {
	fp := collectionFingerprint(lastID)
	prefix := lastID
	if len(prefix) > collectionTokenIDBytes {
		prefix = prefix[:collectionTokenIDBytes]
	}
	body := append(fp[:], prefix...)
	raw := make([]byte, 0, collectionTokenHeader+len(prefix))
	raw = append(raw, collectionTokenVersion)
	raw = append(raw, collectionTokenMAC(c, body)...)
	raw = append(raw, body...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCollectionToken(c *call, tok string) (*collectionCursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) <= collectionTokenHeader || raw[0] != collectionTokenVersion {
		return nil, false
	}
	mac, body := raw[1:1+collectionTokenMACBytes], raw[1+collectionTokenMACBytes:]
	if !hmac.Equal(mac, collectionTokenMAC(c, body)) {
		return nil, false
	}
	cur := &collectionCursor{prefix: string(body[collectionTokenFPBytes:])}
	copy(cur.fp[:], body)
	return cur, true
}

// resume returns the index in ids (sorted) of the first id after the cursor.
// When the page's last id is gone, the ids after its prefix follow; for an id
// longer than the token holds, the ids sharing that prefix may then come again.
func (cur *collectionCursor) resume(ids []string) int {
	i := sort.SearchStrings(ids, cur.prefix)
	for j := i; j < len(ids) && strings.HasPrefix(ids[j], cur.prefix); j++ {
		if collectionFingerprint(ids[j]) == cur.fp {
			return j + 1
		}
	}
	return i
}
