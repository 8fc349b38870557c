package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/facesearch/facesearch-operator/internal/workload"
)

// UncachedObjects are the kinds the controllers read live, one object at a time, never
// through the manager's cache: the Secrets and ConfigMaps that Collections (storage
// credentials), Users and SearchRequests (images) name. A cache would list and watch every
// Secret and ConfigMap of the cluster and hold them all in the manager's memory, next to
// the image decoder, and need list and watch on them in the ClusterRole; a live read needs
// get only.
func UncachedObjects() []client.Object {
	return []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}
}

// ConfigureCache applies the controllers' cache policy to a manager's options: the
// UncachedObjects are read live, and of Deployments, Services and NetworkPolicies only the index shards'
// (workload.IndexSelector) are cached, not every one of the cluster.
func ConfigureCache(o *ctrl.Options) {
	if o.Client.Cache == nil {
		o.Client.Cache = &client.CacheOptions{}
	}
	o.Client.Cache.DisableFor = append(o.Client.Cache.DisableFor, UncachedObjects()...)
	if o.Cache.ByObject == nil {
		o.Cache.ByObject = map[client.Object]cache.ByObject{}
	}
	o.Cache.ByObject[&appsv1.Deployment{}] = cache.ByObject{Label: workload.IndexSelector()}
	o.Cache.ByObject[&corev1.Service{}] = cache.ByObject{Label: workload.IndexSelector()}
	o.Cache.ByObject[&networkingv1.NetworkPolicy{}] = cache.ByObject{Label: workload.IndexSelector()}
}
