// The AWS SDK for JavaScript v3 against the Rekognition-compatible endpoint, as a caller in
// another language than the server's would use it. Run by cmd/facesearch/jssdk_test.go
// against the local stack, with FACESEARCH_JSSDK naming the directory that holds the SDK's
// node_modules (hack/install-jssdk.sh) and FACESEARCH_JSSDK_TEST the inputs, as JSON:
// {endpoint, accessKeyId, secretAccessKey, collectionId,
//  people: [{userId, enrol: [image paths], probe: image path}]}.
// Each check prints one line; the first failure ends the script with a non-zero status.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// The SDK is in the cache, not beside this file: resolve it from there.
const require = createRequire(join(process.env.FACESEARCH_JSSDK, 'package.json'));
const R = require('@aws-sdk/client-rekognition');
const cfg = JSON.parse(process.env.FACESEARCH_JSSDK_TEST);

const client = (opts = {}) => new R.RekognitionClient({
  region: 'us-east-1',
  endpoint: cfg.endpoint,
  credentials: {
    accessKeyId: opts.accessKeyId ?? cfg.accessKeyId,
    secretAccessKey: opts.secretAccessKey ?? cfg.secretAccessKey,
  },
  // The refused calls below are refused for good: no retry needed to see it.
  ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
});
const rk = client();
const send = (c, Command, input) => c.send(new Command(input));

// rejects runs a call that must fail and checks the error as the SDK hands it over.
async function rejects(what, call, check) {
  let err;
  try {
    await call();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: the call succeeded`);
  check(err);
  console.log(`ok ${what}: ${err.name} (HTTP ${err.$metadata?.httpStatusCode})`);
}

const CollectionId = cfg.collectionId;

const created = await send(rk, R.CreateCollectionCommand, { CollectionId });
assert.equal(created.StatusCode, 200);
assert.match(created.CollectionArn, /:collection\//);
assert.ok(created.FaceModelVersion, 'CreateCollection answers a FaceModelVersion');
console.log(`ok CreateCollection ${CollectionId}: ${created.CollectionArn}`);

const faces = {};
for (const person of cfg.people) {
  faces[person.userId] = [];
  for (const path of person.enrol) {
    const out = await send(rk, R.IndexFacesCommand, {
      CollectionId,
      Image: { Bytes: readFileSync(path) },
      ExternalImageId: path.split('/').pop(),
      MaxFaces: 1,
    });
    assert.equal(out.FaceRecords.length, 1, `IndexFaces ${path}: one face`);
    faces[person.userId].push(out.FaceRecords[0].Face.FaceId);
  }
  console.log(`ok IndexFaces: ${person.enrol.length} faces of ${person.userId}`);
}

for (const person of cfg.people) {
  const ClientRequestToken = randomUUID();
  await send(rk, R.CreateUserCommand, { CollectionId, UserId: person.userId, ClientRequestToken });
  // A retry with the same token is the same call: it succeeds again.
  await send(rk, R.CreateUserCommand, { CollectionId, UserId: person.userId, ClientRequestToken });
  console.log(`ok CreateUser ${person.userId}, and again with the same ClientRequestToken`);
}
const [first, second] = cfg.people.map((p) => p.userId);
{
  const ClientRequestToken = randomUUID();
  await send(rk, R.CreateUserCommand, { CollectionId, UserId: `${first}-twin`, ClientRequestToken });
  await rejects('the same ClientRequestToken for another user', () =>
    send(rk, R.CreateUserCommand, { CollectionId, UserId: `${second}-twin`, ClientRequestToken }), (err) => {
    assert.ok(err instanceof R.IdempotentParameterMismatchException, `${err.name}: ${err.message}`);
  });
}

for (const person of cfg.people) {
  const input = { CollectionId, UserId: person.userId, FaceIds: faces[person.userId], ClientRequestToken: randomUUID() };
  const out = await send(rk, R.AssociateFacesCommand, input);
  assert.equal(out.AssociatedFaces.length, faces[person.userId].length, JSON.stringify(out));
  assert.equal(out.UnsuccessfulFaceAssociations.length, 0, JSON.stringify(out));
  // The retry answers what the first call did.
  const again = await send(rk, R.AssociateFacesCommand, input);
  assert.deepEqual(again.AssociatedFaces, out.AssociatedFaces);
  assert.equal(again.UserStatus, out.UserStatus);
  console.log(`ok AssociateFaces ${person.userId}: ${out.AssociatedFaces.length} faces, ${out.UserStatus}; retried with its token: the same answer`);
}

for (const person of cfg.people) {
  const out = await send(rk, R.SearchUsersByImageCommand, { CollectionId, Image: { Bytes: readFileSync(person.probe) } });
  assert.ok(out.UserMatches.length > 0, `SearchUsersByImage for ${person.userId}: no match`);
  const top = out.UserMatches[0];
  assert.equal(top.User.UserId, person.userId, `top match ${JSON.stringify(out.UserMatches)}`);
  console.log(`ok SearchUsersByImage: a photo of ${person.userId} not enrolled finds ${top.User.UserId} (similarity ${top.Similarity.toFixed(1)})`);
}

// The parity items: DetectFaces, CompareFaces, the tag operations, and the answers that
// used to differ (an unknown FaceId, an explicit UserMatchThreshold of 0).
{
  const [a, b] = cfg.people;
  const detected = await send(rk, R.DetectFacesCommand, { Image: { Bytes: readFileSync(a.probe) }, Attributes: ['ALL'] });
  assert.ok(detected.FaceDetails.length >= 1, JSON.stringify(detected));
  const d = detected.FaceDetails[0];
  assert.ok(d.BoundingBox.Width > 0 && d.Confidence > 50, JSON.stringify(d));
  assert.ok(d.EyesOpen && typeof d.EyesOpen.Value === 'boolean', `ALL gives EyesOpen: ${JSON.stringify(d)}`);
  assert.equal(d.AgeRange, undefined, 'no attribute that nothing measures');
  console.log(`ok DetectFaces: ${detected.FaceDetails.length} face(s), EyesOpen ${d.EyesOpen.Value} (${d.EyesOpen.Confidence.toFixed(0)})`);

  const same = await send(rk, R.CompareFacesCommand, { SourceImage: { Bytes: readFileSync(a.probe) }, TargetImage: { Bytes: readFileSync(a.enrol[0]) } });
  assert.equal(same.FaceMatches.length, 1, JSON.stringify(same));
  const other = await send(rk, R.CompareFacesCommand, { SourceImage: { Bytes: readFileSync(a.probe) }, TargetImage: { Bytes: readFileSync(b.enrol[0]) } });
  assert.equal(other.FaceMatches.length, 0, JSON.stringify(other));
  assert.equal(other.UnmatchedFaces.length, 1, JSON.stringify(other));
  console.log(`ok CompareFaces: the same person at ${same.FaceMatches[0].Similarity.toFixed(1)}, another unmatched`);

  const arn = created.CollectionArn;
  await send(rk, R.TagResourceCommand, { ResourceArn: arn, Tags: { team: 'front-desk', site: 'lobby' } });
  await send(rk, R.UntagResourceCommand, { ResourceArn: arn, TagKeys: ['site'] });
  const tags = await send(rk, R.ListTagsForResourceCommand, { ResourceArn: arn });
  assert.deepEqual(tags.Tags, { team: 'front-desk' });
  console.log(`ok TagResource, UntagResource, ListTagsForResource: ${JSON.stringify(tags.Tags)}`);

  await rejects('SearchFaces with an unknown FaceId', () =>
    send(rk, R.SearchFacesCommand, { CollectionId, FaceId: randomUUID() }), (err) => {
    assert.ok(err instanceof R.InvalidParameterException, `${err.name}: ${err.message}`);
  });
  // UserMatchThreshold 0 is 0, not the default 75: a face of another person is refused by
  // a's user with the default, and joins it with 0.
  const index = async (path) => (await send(rk, R.IndexFacesCommand, { CollectionId, Image: { Bytes: readFileSync(path) }, MaxFaces: 1 })).FaceRecords[0].Face.FaceId;
  const stranger = await index(b.probe);
  const dflt = await send(rk, R.AssociateFacesCommand, { CollectionId, UserId: a.userId, FaceIds: [stranger] });
  assert.equal(dflt.AssociatedFaces.length, 0, JSON.stringify(dflt));
  assert.deepEqual(dflt.UnsuccessfulFaceAssociations[0].Reasons, ['LOW_MATCH_CONFIDENCE'], JSON.stringify(dflt));
  const zero = await send(rk, R.AssociateFacesCommand, { CollectionId, UserId: a.userId, FaceIds: [stranger], UserMatchThreshold: 0 });
  assert.equal(zero.AssociatedFaces.length, 1, JSON.stringify(zero));
  console.log('ok AssociateFaces: another person\'s face is LOW_MATCH_CONFIDENCE with the default threshold, joins with UserMatchThreshold 0');
}

const listed = await send(rk, R.ListCollectionsCommand, {});
assert.ok(listed.CollectionIds.includes(CollectionId), JSON.stringify(listed));
assert.equal(listed.FaceModelVersions.length, listed.CollectionIds.length);
console.log(`ok ListCollections: ${listed.CollectionIds.join(', ')}`);

await rejects('DescribeCollection of a missing collection', () =>
  send(rk, R.DescribeCollectionCommand, { CollectionId: 'no_such_collection' }), (err) => {
  assert.ok(err instanceof R.ResourceNotFoundException, `${err.name}: ${err.message}`);
  assert.equal(err.name, 'ResourceNotFoundException');
  assert.equal(err.$fault, 'client');
  assert.equal(err.$metadata.httpStatusCode, 400);
});
await rejects('CreateCollection with an invalid id', () =>
  send(rk, R.CreateCollectionCommand, { CollectionId: 'no spaces allowed' }), (err) => {
  assert.ok(err instanceof R.InvalidParameterException, `${err.name}: ${err.message}`);
  assert.match(err.message, /failed to satisfy constraint/);
});
await rejects('CreateCollection of an existing collection', () =>
  send(rk, R.CreateCollectionCommand, { CollectionId }), (err) => {
  assert.ok(err instanceof R.ResourceAlreadyExistsException, `${err.name}: ${err.message}`);
});

// Authentication errors are not in Rekognition's model (HTTP 400, as its developer guide lists
// authentication failures): the SDK names them from the
// response's error type, as it does against AWS.
await rejects('a call signed with the wrong secret', () =>
  send(client({ secretAccessKey: 'not-the-secret', maxAttempts: 1 }), R.ListCollectionsCommand, {}), (err) => {
  assert.equal(err.name, 'InvalidSignatureException', err.message);
  assert.ok(err instanceof R.RekognitionServiceException);
  assert.equal(err.$metadata.httpStatusCode, 400);
});
await rejects('a call with an unknown access key', () =>
  send(client({ accessKeyId: 'AKIDUNKNOWNKEY000000', maxAttempts: 1 }), R.ListCollectionsCommand, {}), (err) => {
  assert.equal(err.name, 'UnrecognizedClientException', err.message);
  assert.equal(err.$metadata.httpStatusCode, 400);
});
{
  const unsigned = client({ maxAttempts: 1 });
  // Drops the signature once it is made: the request leaves with no Authorization header.
  unsigned.middlewareStack.addRelativeTo((next) => async (args) => {
    delete args.request.headers.authorization;
    return next(args);
  }, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'dropAuthorization' });
  await rejects('an unsigned call', () => send(unsigned, R.ListCollectionsCommand, {}), (err) => {
    assert.equal(err.name, 'MissingAuthenticationTokenException', err.message);
    assert.equal(err.$metadata.httpStatusCode, 400);
  });
}

const deleted = await send(rk, R.DeleteCollectionCommand, { CollectionId });
assert.equal(deleted.StatusCode, 200);
await rejects('DescribeCollection after DeleteCollection', () =>
  send(rk, R.DescribeCollectionCommand, { CollectionId }), (err) => {
  assert.ok(err instanceof R.ResourceNotFoundException, `${err.name}: ${err.message}`);
});
console.log('ok DeleteCollection');
