package rekognition

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Credential is the secret of one access key and what it may reach. Both
// lists say what is allowed: an empty list allows nothing, as an IAM policy
// without a statement does.
type Credential struct {
	SecretAccessKey string
	// AllowedCollections lists the collection ids the key may use;
	// AllCollections ("*") allows every collection. Empty: none. Operations
	// that name no collection (ListCollections, DetectFaces, CompareFaces)
	// are not limited by it.
	AllowedCollections []string
	// AllowedOperations lists the operations the key may call, by name
	// ("SearchUsersByImage"); AllOperations ("*") allows every operation.
	// Empty: none. ParseScope turns a scope ("admin", "read", "search" or a
	// list of names) into this list.
	AllowedOperations []string
}

// AllCollections in Credential.AllowedCollections, and as the value of a
// Secret's "<key>.collections" entry, allows every collection.
const AllCollections = "*"

// AllOperations in Credential.AllowedOperations allows every operation; it is
// what the scope "admin" stands for.
const AllOperations = "*"

// Scopes of a Secret's "<key>.scope" entry.
const (
	// ScopeAdmin allows every operation, CreateCollection and DeleteCollection
	// included.
	ScopeAdmin = "admin"
	// ScopeRead allows the operations that change nothing: DescribeCollection,
	// ListCollections, ListFaces, ListUsers, ListTagsForResource and those of ScopeSearch.
	// TagResource and UntagResource change a collection's resource: admin (or named).
	ScopeRead = "read"
	// ScopeSearch allows the four searches (SearchFaces, SearchFacesByImage,
	// SearchUsers, SearchUsersByImage) and the image operations without a
	// collection (DetectFaces, CompareFaces) only.
	ScopeSearch = "search"
)

// searchOperations are the searches and, as they too only look at the caller's own images,
// the operations that use no collection. Those reach nothing a key's collections could
// limit: their scope alone decides.
var searchOperations = []string{"SearchFaces", "SearchFacesByImage", "SearchUsers", "SearchUsersByImage", "DetectFaces", "CompareFaces"}

var scopeOperations = map[string][]string{
	ScopeRead:   append([]string{"DescribeCollection", "ListCollections", "ListFaces", "ListUsers", "ListTagsForResource"}, searchOperations...),
	ScopeSearch: searchOperations,
}

// FullAccess is the credential of an administrator key: every operation on
// every collection.
func FullAccess(secretAccessKey string) Credential {
	return Credential{SecretAccessKey: secretAccessKey, AllowedCollections: []string{AllCollections}, AllowedOperations: []string{AllOperations}}
}

// Allows reports whether the key may use the collection.
func (c Credential) Allows(collectionID string) bool {
	for _, a := range c.AllowedCollections {
		if a == AllCollections || a == collectionID {
			return true
		}
	}
	return false
}

// AllowsAllCollections reports whether the key may use every collection.
func (c Credential) AllowsAllCollections() bool {
	return slices.Contains(c.AllowedCollections, AllCollections)
}

// MayCall reports whether the key may call the operation.
func (c Credential) MayCall(operation string) bool {
	for _, a := range c.AllowedOperations {
		if a == AllOperations || a == operation {
			return true
		}
	}
	return false
}

// ParseScope reads a scope: "admin" alone, or a comma-separated list of
// "read", "search" and operation names (Operations()), for example
// "search,IndexFaces". It returns the operations it allows, sorted, or
// [AllOperations] for "admin". An empty scope allows nothing (nil, no error).
func ParseScope(s string) ([]string, error) {
	set := map[string]bool{}
	admin := false
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item == ScopeAdmin:
			admin = true
		case scopeOperations[item] != nil:
			for _, op := range scopeOperations[item] {
				set[op] = true
			}
		case isOperation(item):
			set[item] = true
		default:
			return nil, fmt.Errorf("%q is neither a scope (%s, %s, %s) nor an operation (%s)",
				item, ScopeAdmin, ScopeRead, ScopeSearch, strings.Join(sortedOperations(), ", "))
		}
		if admin && len(set) > 0 {
			return nil, fmt.Errorf("%q stands alone: it already allows every operation", ScopeAdmin)
		}
	}
	if admin {
		return []string{AllOperations}, nil
	}
	if len(set) == 0 {
		return nil, nil
	}
	ops := make([]string, 0, len(set))
	for op := range set {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops, nil
}

func isOperation(name string) bool {
	_, ok := operations[name]
	return ok
}

func sortedOperations() []string {
	ops := Operations()
	sort.Strings(ops)
	return ops
}

// parseCollections reads a "<key>.collections" value: "*" alone, or
// comma-separated collection ids. Empty allows nothing (nil, no error).
func parseCollections(s string) ([]string, error) {
	var ids []string
	all := false
	for _, col := range strings.Split(s, ",") {
		col = strings.TrimSpace(col)
		switch {
		case col == "":
			continue
		case col == AllCollections:
			all = true
		case len(col) > 255 || !reCollectionID.MatchString(col):
			return nil, fmt.Errorf("%q is not a collection id (1-255 of A-Z a-z 0-9 _ . -) nor %q", col, AllCollections)
		case !slices.Contains(ids, col):
			ids = append(ids, col)
		}
		if all && len(ids) > 0 {
			return nil, fmt.Errorf("%q stands alone: it already allows every collection", AllCollections)
		}
	}
	if all {
		return []string{AllCollections}, nil
	}
	return ids, nil
}

// CredentialStore finds the credential of an access key id. Implementations
// must be safe for concurrent use.
type CredentialStore interface {
	Lookup(accessKeyID string) (Credential, bool)
}

// StaticCredentials is a CredentialStore over a fixed map.
type StaticCredentials map[string]Credential

// Lookup finds an access key's credential.
func (m StaticCredentials) Lookup(id string) (Credential, bool) {
	c, ok := m[id]
	return c, ok
}

// SecretCredentials is a CredentialStore whose content can be replaced at
// run time, for example each time the Kubernetes Secret holding the keys
// changes. The zero value holds no keys.
type SecretCredentials struct {
	mu       sync.RWMutex
	keys     map[string]Credential
	warnings []string
}

// Lookup implements CredentialStore.
func (s *SecretCredentials) Lookup(id string) (Credential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.keys[id]
	return c, ok
}

// Update parses a Secret's data (see ParseSecretData) and, if it is valid,
// replaces the keys. On error the previous keys stay in force.
func (s *SecretCredentials) Update(data map[string][]byte) error {
	keys, err := ParseSecretData(data)
	if err != nil {
		return err
	}
	warnings := CredentialWarnings(keys)
	s.mu.Lock()
	s.keys, s.warnings = keys, warnings
	s.mu.Unlock()
	return nil
}

// Warnings are CredentialWarnings of the keys in force.
func (s *SecretCredentials) Warnings() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.warnings)
}

// CredentialWarnings lists, sorted, the keys that can do nothing because
// their operations or their collections are empty: a Secret written for an
// earlier version, where a missing entry meant "everything", reads that way.
func CredentialWarnings(keys map[string]Credential) []string {
	var w []string
	for id, c := range keys {
		if len(c.AllowedOperations) == 0 {
			w = append(w, fmt.Sprintf("access key %s may call no operation: its %s%s entry is missing or empty (%s, %s, %s or operation names)",
				id, id, ScopeSuffix, ScopeAdmin, ScopeRead, ScopeSearch))
		}
		if len(c.AllowedCollections) == 0 {
			w = append(w, fmt.Sprintf("access key %s reaches no collection: its %s%s entry is missing or empty (%q for all, or collection ids)",
				id, id, CollectionsSuffix, AllCollections))
		}
	}
	sort.Strings(w)
	return w
}

// Suffixes of the entries of a Secret that say what a key may do.
const (
	// CollectionsSuffix marks the entry of the collections a key may use.
	CollectionsSuffix = ".collections"
	// ScopeSuffix marks the entry of the operations a key may call.
	ScopeSuffix = ".scope"
)

// ParseSecretData reads access keys from the data map of a Kubernetes
// Secret:
//
//	<access key id>:              <secret access key>
//	<access key id>.scope:        admin | read | search | <operation>[,...]
//	<access key id>.collections:  * | <collection id>[,<collection id>...]
//
// An access key id is 16-128 characters of [A-Za-z0-9_-] (a Secret data key
// may hold '.', so the suffixes are unambiguous). Surrounding white space and
// a trailing newline in values are ignored.
//
// A key may do only what its entries allow: without a ".scope" entry (or with
// an empty one) it may call no operation, without a ".collections" entry (or
// with an empty one) it reaches no collection. "admin" is every operation,
// "read" the operations that change nothing (Describe, List, ListTagsForResource,
// Search, and DetectFaces and CompareFaces), "search" the four searches with
// DetectFaces and CompareFaces; a list may mix "read", "search" and operation
// names. "*" is every collection. DetectFaces and CompareFaces use no
// collection: the scope alone allows them, whatever ".collections" says.
//
// An entry with another suffix, a ".scope" or ".collections" entry without
// its key, an empty secret, an unknown scope or operation, or a malformed
// collection id is an error, which names the entry.
func ParseSecretData(data map[string][]byte) (map[string]Credential, error) {
	names := make([]string, 0, len(data))
	for k := range data {
		names = append(names, k)
	}
	sort.Strings(names) // the first error is the same each time
	keys := make(map[string]Credential)
	for _, k := range names {
		if strings.Contains(k, ".") {
			continue
		}
		if !ValidAccessKeyID(k) {
			return nil, fmt.Errorf("secret entry %q: not an access key id (16-128 of A-Z a-z 0-9 _ -)", k)
		}
		secret := strings.TrimSpace(string(data[k]))
		if secret == "" {
			return nil, fmt.Errorf("secret entry %q: empty secret access key", k)
		}
		keys[k] = Credential{SecretAccessKey: secret}
	}
	for _, k := range names {
		dot := strings.LastIndexByte(k, '.')
		if dot < 0 {
			continue
		}
		id, suffix := k[:dot], k[dot:]
		if suffix != ScopeSuffix && suffix != CollectionsSuffix {
			return nil, fmt.Errorf("secret entry %q: unknown entry (an entry is <access key id>, <access key id>%s or <access key id>%s)", k, ScopeSuffix, CollectionsSuffix)
		}
		c, found := keys[id]
		if !found {
			return nil, fmt.Errorf("secret entry %q: no entry %q with its secret", k, id)
		}
		var err error
		if suffix == ScopeSuffix {
			c.AllowedOperations, err = ParseScope(string(data[k]))
		} else {
			c.AllowedCollections, err = parseCollections(string(data[k]))
		}
		if err != nil {
			return nil, fmt.Errorf("secret entry %q: %w", k, err)
		}
		keys[id] = c
	}
	return keys, nil
}

// ValidAccessKeyID says whether s has an access key id's form: 16-128 of A-Z a-z 0-9 _ -.
func ValidAccessKeyID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}
