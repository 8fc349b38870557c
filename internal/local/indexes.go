package local

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"

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
	// Stores is the pool the shards take their Store from: the search service's, so that
	// shards and writer share one cached state per connection, as before a restart.
	Stores *store.Pool

	mu      sync.Mutex
	running map[string]*inProcessIndex
}

type inProcessIndex struct {
	store      *store.Store
	shards     []*index.Shard
	shardCount int
	replicas   int32
	cancel     context.CancelFunc
	done       chan struct{}
}

var (
	_ workload.IndexRunner   = (*InProcessIndexes)(nil)
	_ workload.IndexObserver = (*InProcessIndexes)(nil)
)

// NewInProcessIndexes returns a runner whose shards live until ctx is done and take their
// Stores from stores.
func NewInProcessIndexes(ctx context.Context, stores *store.Pool) *InProcessIndexes {
	return &InProcessIndexes{Context: ctx, Stores: stores, running: map[string]*inProcessIndex{}}
}

func indexKey(owner types.NamespacedName) string { return "index:" + owner.String() }

// EnsureIndex starts the shards, or restarts them when the shard count changed (they reload
// from storage, so no vector is lost). Replicas beyond one add nothing in one process.
func (p *InProcessIndexes) EnsureIndex(_ context.Context, spec workload.IndexSpec) (*workload.IndexState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := indexKey(types.NamespacedName{Namespace: spec.Owner.GetNamespace(), Name: spec.Owner.GetName()})
	st, err := p.Stores.Acquire(key, spec.Storage)
	if err != nil {
		return nil, err
	}
	n := int(spec.Shards)
	if n < 1 {
		n = 1
	}
	cur := p.running[key]
	// New credentials mean a new Store: the shards reload through it.
	if cur != nil && (cur.shardCount != n || (cur.replicas == 0) != (spec.Replicas == 0) || cur.store != st) {
		cur.stop()
		delete(p.running, key)
		cur = nil
	}
	if cur == nil {
		cur = &inProcessIndex{store: st, shardCount: n, replicas: spec.Replicas, done: make(chan struct{})}
		if spec.Replicas > 0 {
			ctx, cancel := context.WithCancel(p.Context)
			cur.cancel = cancel
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				sh := index.NewShard(st, spec.CollectionID, index.ShardOptions{Shard: i, Shards: n})
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
	return cur.state(), nil
}

// ObserveIndex reports the shards that EnsureIndex started, starting none: the api role's
// view in the local stack, as Deployer.ObserveIndex is on a cluster.
func (p *InProcessIndexes) ObserveIndex(_ context.Context, spec workload.IndexSpec) (*workload.IndexState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.running[indexKey(types.NamespacedName{Namespace: spec.Owner.GetNamespace(), Name: spec.Owner.GetName()})]
	if cur == nil {
		return &workload.IndexState{Endpoint: "in-process", Message: "the shards are not started yet"}, nil
	}
	return cur.state(), nil
}

// ForgetIndex holds nothing per collection for observers.
func (p *InProcessIndexes) ForgetIndex(types.NamespacedName) {}

// state is what the shards serve now.
func (cur *inProcessIndex) state() *workload.IndexState {
	n := cur.shardCount
	state := &workload.IndexState{Endpoint: "in-process", Ready: len(cur.shards) > 0}
	loaded := 0
	for _, sh := range cur.shards {
		state.Shards = append(state.Shards, sh)
		// In-process, each shard runs once, whatever spec.index.replicas says.
		if sh.Ready() {
			loaded++
			state.Replicas = append(state.Replicas, workload.ShardReplicas{Ready: 1, Desired: 1})
		} else {
			state.Ready = false
			state.Replicas = append(state.Replicas, workload.ShardReplicas{Ready: 0, Desired: 1})
		}
	}
	if !state.Ready {
		state.Message = fmt.Sprintf("%d of %d shards loaded", loaded, n)
	}
	return state
}

// RemoveIndex stops the collection's shards.
func (p *InProcessIndexes) RemoveIndex(_ context.Context, owner types.NamespacedName) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := indexKey(owner)
	if cur := p.running[key]; cur != nil {
		cur.stop()
		delete(p.running, key)
	}
	p.Stores.Release(key)
	return nil
}

func (cur *inProcessIndex) stop() {
	if cur.cancel != nil {
		cur.cancel()
	}
	<-cur.done
}
