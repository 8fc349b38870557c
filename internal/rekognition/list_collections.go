package rekognition

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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
// when altered or given by another key. A page is short only when it is the last one.
func (h *handler) listCollections(ctx context.Context, c *call, in *ListCollectionsInput) (*ListCollectionsOutput, error) {
	// A token's caller was authorized to list its namespace's collections, all of them.
	if !c.authn || c.caller != nil || c.cred.AllowsAllCollections() {
		return h.backend.ListCollections(ctx, in)
	}
	after := ""
	if tok := deref(in.NextToken); tok != "" {
		var ok bool
		if after, ok = decodeCollectionToken(c, tok); !ok {
			return nil, ErrInvalidPaginationToken("Invalid pagination token")
		}
	}
	ids, versions, err := h.visibleCollections(ctx, c.cred)
	if err != nil {
		return nil, err
	}
	// The first id after the page's last one, which may be gone since.
	start := sort.Search(len(ids), func(i int) bool { return ids[i] > after })
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
//	collectionTokenLimited | packCollectionID(last id of the page, MAC)
//
// the id whole (so that the next page starts exactly after it, deleted or not) and an
// 8-byte MAC (HMAC-SHA256, truncated), at most 251 characters for a 255-character id: the
// model's PaginationToken allows 255. The MAC is keyed by a key derived from the caller's
// secret access key and covers the access key id: a token is good only for the key it was
// given to, survives a restart or a new leader (the secret is the same Secret everywhere),
// and an altered one is refused. The key's holder could make tokens of its own, but a token
// is only a position in the list of collections the key may see: it cannot widen that list.
const (
	collectionTokenLimited  = "L"
	collectionTokenVersion  = 2
	collectionTokenMACBytes = 8
)

func collectionTokenMAC(c *call, id string) []byte {
	derive := hmac.New(sha256.New, []byte(c.cred.SecretAccessKey))
	derive.Write([]byte("facesearch ListCollections NextToken"))
	m := hmac.New(sha256.New, derive.Sum(nil))
	m.Write([]byte{collectionTokenVersion})
	m.Write([]byte(c.keyID))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return m.Sum(nil)[:collectionTokenMACBytes]
}

func encodeCollectionToken(c *call, lastID string) string {
	return collectionTokenLimited + packCollectionID(lastID, collectionTokenMAC(c, lastID))
}

// decodeCollectionToken returns the id a token of this key names.
func decodeCollectionToken(c *call, tok string) (string, bool) {
	packed, ok := strings.CutPrefix(tok, collectionTokenLimited)
	if !ok {
		return "", false
	}
	id, mac, ok := unpackCollectionID(packed, collectionTokenMACBytes)
	if !ok || !hmac.Equal(mac, collectionTokenMAC(c, id)) {
		return "", false
	}
	return id, true
}
