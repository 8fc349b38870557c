package local

import (
	"context"
	"fmt"
	"sync"

	facesearchv1 "github.com/facesearch/facesearch-operator/api/v1alpha1"
	"github.com/facesearch/facesearch-operator/internal/index"
	"github.com/facesearch/facesearch-operator/internal/store"
	"github.com/facesearch/facesearch-operator/internal/workload"
)

// InProcessIndexes runs each collection's index shards inside this process, for a control
// plane with no kubelet (make demo, make run-local, the tests). The shards are the same
// index.Shard that the index role serves; only where they run differs.
type InProcessIndexes struct {
	// Context bounds every shard's life; the shards stop when it is done.
	Context context.Context

	mu      sync.Mutex
	running map[string]*inProcessIndex
}

type inProcessIndex struct {
	shards     []*index.Shard
	shardCount int
	replicas   int32
	cancel     context.CancelFunc
	done       chan struct{}
}

var _ workload.IndexRunner = (*InProcessIndexes)(nil)

// NewInProcessIndexes returns a runner whose shards live until ctx is done.
func NewInProcessIndexes(ctx context.Context) *InProcessIndexes {
	return &InProcessIndexes{Context: ctx, running: map[string]*inProcessIndex{}}
}

func indexKey(col *facesearchv1.Collection) string { return col.Namespace + "/" + col.Name }

// EnsureIndex starts the shards, or restarts them when the shard count changed (they reload
// from storage, so no vector is lost). Replicas beyond one add nothing in one process.
func (p *InProcessIndexes) EnsureIndex(_ context.Context, col *facesearchv1.Collection, st *store.Store, _ workload.StorageConnection) (*workload.IndexState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := indexKey(col)
	n := int(col.Spec.Index.Shards)
	if n < 1 {
		n = 1
	}
	cur := p.running[key]
	if cur != nil && (cur.shardCount != n || (cur.replicas == 0) != (col.Spec.Index.Replicas == 0)) {
		cur.stop()
		delete(p.running, key)
		cur = nil
	}
	if cur == nil {
		cur = &inProcessIndex{shardCount: n, replicas: col.Spec.Index.Replicas, done: make(chan struct{})}
		if col.Spec.Index.Replicas > 0 {
			ctx, cancel := context.WithCancel(p.Context)
			cur.cancel = cancel
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				sh := index.NewShard(st, col.EffectiveCollectionID(), index.ShardOptions{Shard: i, Shards: n})
				cur.shards = append(cur.shards, sh)
				wg.Add(1)
				go func() { defer wg.Done(); _ = sh.Run(ctx) }()
			}
			go func() { wg.Wait(); close(cur.done) }()
		} else {
			close(cur.done)
		}
		p.running[key] = cur
	}
	state := &workload.IndexState{Endpoint: "in-process", Ready: len(cur.shards) > 0}
	loaded := 0
	for _, sh := range cur.shards {
		state.Shards = append(state.Shards, sh)
		if sh.Ready() {
			loaded++
		} else {
			state.Ready = false
		}
	}
	if !state.Ready {
		state.Message = fmt.Sprintf("%d of %d shards loaded", loaded, n)
	}
	return state, nil
}

// RemoveIndex stops the collection's shards.
func (p *InProcessIndexes) RemoveIndex(_ context.Context, col *facesearchv1.Collection) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.running[indexKey(col)]; cur != nil {
		cur.stop()
		delete(p.running, indexKey(col))
	}
	return nil
}

func (i *inProcessIndex) stop() {
	if i.cancel != nil {
		i.cancel()
	}
	<-i.done
}
