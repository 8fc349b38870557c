package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/facesearch/facesearch-operator/internal/index"
)

func runIndex(args []string) error {
	fs := flag.NewFlagSet("index", flag.ContinueOnError)
	var o index.IndexOptions
	fs.StringVar(&o.CollectionID, "collection", "", "CollectionId to serve")
	fs.IntVar(&o.Shard, "shard", 0, "this shard's number, from 0")
	fs.IntVar(&o.Shards, "shards", 1, "how many shards the collection has")
	fs.StringVar(&o.Endpoint, "storage-endpoint", "", "host:port of the S3-compatible storage")
	fs.BoolVar(&o.Secure, "storage-tls", false, "use HTTPS to reach the storage")
	fs.StringVar(&o.Bucket, "bucket", "", "bucket of the collection")
	fs.StringVar(&o.Prefix, "prefix", "", "key prefix of the collection")
	fs.StringVar(&o.ListenAddress, "listen", ":8080", "address of the search server (POST /search; HTTPS with --tls-cert)")
	fs.StringVar(&o.ProbeAddress, "probe-listen", ":8081", "address of the health and metrics server (/healthz, /readyz, /metrics; plain HTTP)")
	fs.Func("token-file", "file holding a bearer token that searches may carry (repeat for the previous token during a rotation; empty files are skipped); required", func(s string) error {
		o.TokenFiles = append(o.TokenFiles, s)
		return nil
	})
	fs.StringVar(&o.TLSCertFile, "tls-cert", "", "PEM certificate of the search server, read again when it changes")
	fs.StringVar(&o.TLSKeyFile, "tls-key", "", "PEM key of --tls-cert")
	fs.DurationVar(&o.DrainDelay, "drain-delay", 5*time.Second, "on shutdown, how long readiness fails (while searches are still served) before the server stops")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", index.DefaultShutdownTimeout, "on shutdown, after the drain delay, how long the searches in flight may take to finish")
	fs.DurationVar(&o.ShardOptions.MaxStaleness, "max-staleness", index.DefaultMaxStaleness, "how long since the shard last reached storage it may still answer (an erasure made meanwhile would not show)")
	notifications := fs.Bool("notifications", true, "learn of new commits from MinIO's bucket notifications (ListenBucketNotification), polling only as a fallback")
	fs.DurationVar(&o.ShardOptions.PollInterval, "poll-interval", 200*time.Millisecond, "how often to look for new commits while no notification stream announces them")
	fs.DurationVar(&o.ShardOptions.FallbackPollInterval, "fallback-poll-interval", index.DefaultFallbackPollInterval, "how often to look for new commits while a notification stream announces them (in case an event is lost)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.ShardOptions.NoNotifications = !*notifications
	o.Log = zap.New(zap.UseFlagOptions(&zapOpts)).WithName("index")
	// Keys come from the environment (a Secret), never from flags that show in ps.
	o.AccessKey = os.Getenv("FACESEARCH_STORAGE_ACCESS_KEY")
	o.SecretKey = os.Getenv("FACESEARCH_STORAGE_SECRET_KEY")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return index.RunIndex(ctx, o)
}
