#!/usr/bin/env bash
# make demo: the main job on this machine, as a person would do it with kubectl. Starts the
# local stack (control plane, MinIO, manager with in-process index shards), uploads the
# labelled sample faces, applies config/samples, and asks who is in a photo of one of the
# people that was not used to enrol them; then asks the same through the Rekognition endpoint
# with `facesearch search`, which draws the answer as a PNG, and prints how to sign in to the
# web console. Needs the paths of bin/assets.env in the environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${KUBEBUILDER_ASSETS:?run through make demo}" "${FACESEARCH_TESTFACES:?run through make demo}"
kubectl_bin="$KUBEBUILDER_ASSETS/kubectl"
work=$(mktemp -d)
log="$work/local.log"

# The endpoint's and the console's key: the demo's own, printed at the end, never a key of
# the caller's environment (a real AWS secret would end up on the screen).
export AWS_ACCESS_KEY_ID=AKIDFACESEARCHDEMO AWS_SECRET_ACCESS_KEY=facesearch-demo-secret

echo "== starting the local stack (log: $log)"
# A free port: a make run-local on 8080 may be up beside it.
bin/facesearch local --kubeconfig "$work/kubeconfig" --env-file "$work/env" --api-bind-address 127.0.0.1:0 \
  --upload "faces=$FACESEARCH_TESTFACES/johns:samples/johns/" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# The env file appears, whole, once every address answers, just before the serving line.
for _ in $(seq 1 600); do
  [ -f "$work/env" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "the local stack exited:"; cat "$log"; exit 1; }
  sleep 0.5
done
[ -f "$work/env" ] || { echo "the local stack did not serve within 5 minutes:"; cat "$log"; exit 1; }
# shellcheck disable=SC1091
source "$work/env"
k() { "$kubectl_bin" --kubeconfig "$KUBECONFIG" "$@"; }
echo "== local stack serving: MinIO at $MINIO_ENDPOINT"

echo "== kubectl apply: the storage Secret, the Collection and 5 Users (3 photos each)"
k apply -f config/samples/minio-credentials.yaml
# The sample's endpoint names an in-cluster MinIO; here it is the local one.
sed "s#endpoint: .*#endpoint: $MINIO_ENDPOINT#" config/samples/facesearch_v1alpha1_collection.yaml | k apply -f -
k apply -f config/samples/facesearch_v1alpha1_user.yaml
k wait --for=condition=Ready collection/people --timeout=300s
k wait --for=condition=Ready users --all --timeout=600s
k get collections,users -o wide

echo "== kubectl apply: a SearchRequest with a photo that was not used for enrolment"
k apply -f config/samples/facesearch_v1alpha1_searchrequest.yaml
k wait --for=condition=Succeeded searchrequest/who-is-this --timeout=300s
k get searchrequests
echo "== status of searchrequest/who-is-this"
k get searchrequest who-is-this -o jsonpath='{.status}' | python3 -m json.tool 2>/dev/null || k get searchrequest who-is-this -o yaml

want=$(sed -n 's#.*name: samples/johns/\([^/]*\)/.*#\1#p' config/samples/facesearch_v1alpha1_searchrequest.yaml)
got=$(k get searchrequest who-is-this -o jsonpath='{.status.userMatches[0].user.userId}')
sim=$(k get searchrequest who-is-this -o jsonpath='{.status.userMatches[0].similarity}')
if [ "$got" != "$want" ]; then
  echo "== demo FAILED: expected $want as the top match, got '${got:-nobody}'"
  exit 1
fi
echo "== the photo shows $got (similarity $sim): correct"

# Is it the right person, also through the endpoint? The same photo, with every face drawn.
photo=$(sed -n 's#.*name: samples/johns/##p' config/samples/facesearch_v1alpha1_searchrequest.yaml)
annotated="$root/bin/demo.annotated.png"
echo "== facesearch search: the same photo through the Rekognition endpoint ($API_URL)"
bin/facesearch search --endpoint "$API_URL" --collection people --max-users 3 --out "$annotated" \
  "$FACESEARCH_TESTFACES/johns/$photo" | tee "$work/search.txt"
top=$(awk '/^RANK/ {table = 1; next} table && NF {print $2; exit}' "$work/search.txt")
if [ "$top" != "$got" ]; then
  echo "== demo FAILED: facesearch search's top match is '${top:-nobody}', the SearchRequest's $got"
  exit 1
fi
curl -fsS -o /dev/null "${CONSOLE_URL}signin" || { echo "== demo FAILED: the console does not answer at $CONSOLE_URL"; exit 1; }

cat <<EOF
== the endpoint agrees: $top
== the web console: $CONSOLE_URL
   access key id      $AWS_ACCESS_KEY_ID
   secret access key  $AWS_SECRET_ACCESS_KEY
== the search drawn: $annotated
The demo stops its stack as it ends, and that address with it: it answers only until then.
To keep a console up, run a stack of your own with the same key,
  AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY make run-local
and sign in at http://127.0.0.1:8080/console/ while it runs (a new stack, empty until you
enrol people: docs/cli.md).
EOF
