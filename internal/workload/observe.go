package workload

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// IndexObserver finds a collection's running shards without creating or changing anything:
// the api role reads what the manager made, so that serving needs no leader.
type IndexObserver interface {
	// ObserveIndex reports the shards of spec as they run now.
	ObserveIndex(ctx context.Context, spec IndexSpec) (*IndexState, error)
	// ForgetIndex lets go of what was kept to reach a collection no longer served.
	ForgetIndex(owner types.NamespacedName)
}

var _ IndexObserver = (*Deployer)(nil)

// ObserveIndex reads the Collection's index auth Secret and its shards' Deployments; it
// writes nothing. A shard serves while at least one of its pods is ready (shardServes).
func (d *Deployer) ObserveIndex(ctx context.Context, spec IndexSpec) (*IndexState, error) {
	key := spec.key()
	n := int(spec.Shards)
	sec := &corev1.Secret{}
	err := d.reader().Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: AuthSecretName(key.Name)}, sec)
	if apierrors.IsNotFound(err) {
		return &IndexState{Message: "the index auth Secret is not made yet"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("while reading Secret %s: %w", AuthSecretName(key.Name), err)
	}
	clientOpts, err := d.shardClientOptions(key, &indexAuth{token: string(sec.Data[AuthTokenKey]),
		previous: string(sec.Data[AuthPreviousTokenKey]), caBundle: sec.Data[AuthCACertKey]})
	if err != nil {
		return nil, err
	}
	state := &IndexState{Ready: spec.Replicas > 0 && n > 0, Endpoint: d.shardURL(key, 0)}
	serving := 0
	for i := 0; i < n; i++ {
		dep := &appsv1.Deployment{}
		err := d.Client.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: ShardName(key.Name, i)}, dep)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("while reading Deployment %s: %w", ShardName(key.Name, i), err)
		}
		if err == nil && shardServes(dep, spec) {
			serving++
		} else {
			state.Ready = false
		}
		state.Replicas = append(state.Replicas, ShardReplicas{Ready: dep.Status.ReadyReplicas, Desired: spec.Replicas})
		state.Shards = append(state.Shards, d.shardClient(key, i, n, clientOpts))
	}
	if !state.Ready {
		state.Message = fmt.Sprintf("%d of %d shards serving", serving, n)
	}
	return state, nil
}

// ForgetIndex lets go of the connections to a collection's shards once it is no longer
// served.
func (d *Deployer) ForgetIndex(owner types.NamespacedName) { d.dropShardClients(owner) }

// shardServes says whether a shard's Deployment has a ready pod: one the Service routes to,
// whichever template it runs. Pods of an earlier template may be among them during a
// rollout; a shard's answer names the layout it serves, and the client refuses another's.
func shardServes(dep *appsv1.Deployment, spec IndexSpec) bool {
	return spec.Replicas > 0 && dep.Status.ReadyReplicas > 0
}
