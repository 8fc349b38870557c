package rekognition

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Credential is the secret of one access key and what it may reach.
type Credential struct {
	SecretAccessKey string
	// AllowedCollections limits the key to these collection ids; empty means
	// all collections.
	AllowedCollections []string
}

// Allows reports whether the key may use the collection.
func (c Credential) Allows(collectionID string) bool {
	return len(c.AllowedCollections) == 0 || slices.Contains(c.AllowedCollections, collectionID)
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
	mu   sync.RWMutex
	keys map[string]Credential
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
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
	return nil
}

// CollectionsSuffix marks the entry of a Secret that limits a key to some
// collections.
const CollectionsSuffix = ".collections"

// ParseSecretData reads access keys from the data map of a Kubernetes
// Secret:
//
//	<access key id>:              <secret access key>
//	<access key id>.collections:  <collection id>[,<collection id>...]   (optional)
//
// An access key id is 16-128 characters of [A-Za-z0-9_-] (a Secret data key
// may hold '.', so the ".collections" suffix is unambiguous). Surrounding
// white space and a trailing newline in values are ignored. Without a
// ".collections" entry (or with an empty one) the key reaches every
// collection. A ".collections" entry without its key, an empty secret, or a
// malformed collection id is an error.
func ParseSecretData(data map[string][]byte) (map[string]Credential, error) {
	keys := make(map[string]Credential)
	for k, v := range data {
		if strings.HasSuffix(k, CollectionsSuffix) {
			continue
		}
		if !validAccessKeyID(k) {
			return nil, fmt.Errorf("secret entry %q: not an access key id (16-128 of A-Z a-z 0-9 _ -)", k)
		}
		secret := strings.TrimSpace(string(v))
		if secret == "" {
			return nil, fmt.Errorf("secret entry %q: empty secret access key", k)
		}
		keys[k] = Credential{SecretAccessKey: secret}
	}
	for k, v := range data {
		id, ok := strings.CutSuffix(k, CollectionsSuffix)
		if !ok {
			continue
		}
		c, found := keys[id]
		if !found {
			return nil, fmt.Errorf("secret entry %q: no entry %q with its secret", k, id)
		}
		for _, col := range strings.Split(string(v), ",") {
			col = strings.TrimSpace(col)
			if col == "" {
				continue
			}
			if len(col) > 255 || !reCollectionID.MatchString(col) {
				return nil, fmt.Errorf("secret entry %q: %q is not a collection id", k, col)
			}
			c.AllowedCollections = append(c.AllowedCollections, col)
		}
		keys[id] = c
	}
	return keys, nil
}

func validAccessKeyID(s string) bool {
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
