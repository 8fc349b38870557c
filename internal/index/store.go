package index

import "github.com/facesearch/facesearch-operator/internal/store"

func newStore(opts IndexOptions) (*store.Store, error) {
	c, err := store.NewClient(opts.Endpoint, opts.AccessKey, opts.SecretKey, opts.Secure)
	if err != nil {
		return nil, err
	}
	return store.New(c, opts.Bucket, opts.Prefix, store.Options{}), nil
}
