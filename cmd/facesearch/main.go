// Command facesearch is the operator's one binary. Its first argument picks the role:
// manager (the controllers), api (the Rekognition-compatible endpoint, any number of
// replicas), index (one shard of a collection), sidecar (the proxy next to an application
// that forwards its calls to the endpoint with the pod's token) or local (the embedded local
// stack: control plane, MinIO, manager and api with in-process shards, used by make demo).
// Two more are clients of the endpoint, for people: search (who is in a photo, with the
// photo annotated) and enrol (users from folders of photos). bulk-enrol enrols the photos
// under a bucket prefix straight into the store, one worker of an Indexed Job per process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	role, args := os.Args[1], os.Args[2:]
	var err error
	switch role {
	case "manager":
		err = runManager(args)
	case "api":
		err = runAPI(args)
	case "index":
		err = runIndex(args)
	case "sidecar":
		err = runSidecar(args)
	case "local":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		err = runLocal(ctx, args)
		stop()
	case "search", "enrol", "bulk-enrol":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		switch role {
		case "search":
			err = runSearch(ctx, args, os.Stdout, os.Stderr)
		case "enrol":
			err = runEnrol(ctx, args, os.Stdout, os.Stderr)
		default:
			err = runBulkEnrol(ctx, args, os.Stdout, os.Stderr)
		}
		stop()
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "facesearch: unknown role %q\n", role)
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "facesearch %s: %v\n", role, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: facesearch <role> [flags]

roles:
  manager   run the Collection, User and SearchRequest controllers on a cluster
  api       serve the Rekognition-compatible HTTP endpoint (stateless; run several)
  index     serve one shard of one collection's vectors
  sidecar   next to an application: forward its Rekognition calls to the endpoint with the pod's token
  local     run the whole stack on this machine: control plane, MinIO, manager, api, in-process shards

commands (clients of an endpoint; key pair from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY):
  search    who is in a photo: the matching users, and the photo with every face framed
            facesearch search --collection ID [--endpoint URL] [--out result.png] PHOTO
  enrol     users from photos, one face each; can be run again after a stop
            facesearch enrol --collection ID --user USERID PHOTO... | --dir FOLDER (FOLDER/<UserId>/*.jpg)

command (straight to the storage; key pair from FACESEARCH_STORAGE_ACCESS_KEY and _SECRET_KEY):
  bulk-enrol  enrol every photo under a bucket prefix, one worker of an Indexed Job; resumes after a kill
            facesearch bulk-enrol --collection ID --storage-endpoint HOST:PORT --bucket B --source-prefix P/ --job NAME [--workers N]
            facesearch bulk-enrol --status --job NAME --storage-endpoint HOST:PORT --bucket B

Run "facesearch <role> -h" for a role's flags.
`)
}
