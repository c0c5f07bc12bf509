// Checks that the official CDF JS client, @cognite/sdk, works against Lasso's stand-in.
//
// Environment: CDF_BASE_URL (e.g. http://127.0.0.1:4000), CDF_PROJECT, CDF_TOKEN, and
// optionally CDF_EXPECT_FILES (the number of files the stand-in serves).
// Exits 0 when every check passes, 1 on the first mismatch (with the reason on stderr).
//
// Run by TestCogniteSDKCompat (cmd/cdflocal); by hand:
//   npm ci --prefix cdf/cdflocal/testdata/sdkcompat
//   CDF_BASE_URL=... CDF_PROJECT=lasso-local CDF_TOKEN=t node cdf/cdflocal/testdata/sdkcompat/compat.mjs
import { CogniteClient } from '@cognite/sdk';

const baseUrl = process.env.CDF_BASE_URL;
const project = process.env.CDF_PROJECT;
const token = process.env.CDF_TOKEN || 'sdk-compat-token';
if (!baseUrl || !project) {
  console.error('compat: set CDF_BASE_URL and CDF_PROJECT');
  process.exit(2);
}

let checks = 0;
function check(cond, what, detail) {
  checks++;
  if (!cond) {
    throw new Error(`${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
  }
}

async function main() {
  const client = new CogniteClient({
    appId: 'lasso-sdkcompat',
    project,
    baseUrl,
    oidcTokenProvider: async () => token,
  });
  await client.authenticate();

  // files.list: one page, then every page through the SDK's cursor handling.
  const page = await client.files.list({ limit: 2 });
  check(Array.isArray(page.items), 'files.list items is an array', page);
  check(page.items.length <= 2, 'files.list honours limit', page.items.length);
  const all = await client.files.list({ limit: 2 }).autoPagingToArray({ limit: Infinity });
  const want = process.env.CDF_EXPECT_FILES ? Number(process.env.CDF_EXPECT_FILES) : undefined;
  if (want !== undefined) {
    check(all.length === want, 'files.list pages through every file', { got: all.length, want });
  }
  check(new Set(all.map((f) => f.id)).size === all.length, 'files.list ids are unique across pages');
  for (const f of all) {
    check(Number.isSafeInteger(f.id) && f.id > 0, 'file id is a safe positive integer', f.id);
    check(typeof f.name === 'string' && f.name.length > 0, 'file has a name', f);
    check(typeof f.uploaded === 'boolean', 'file has uploaded', f);
    check(f.createdTime instanceof Date && f.lastUpdatedTime instanceof Date, 'SDK parsed createdTime/lastUpdatedTime as dates', f);
  }

  const images = all.filter((f) => f.mimeType === 'image/png' || f.mimeType === 'image/jpeg');
  check(images.length > 0, 'at least one image file to work with', all.map((f) => f.mimeType));
  const pngs = await client.files.list({ filter: { mimeType: 'image/png' } }).autoPagingToArray({ limit: Infinity });
  check(pngs.length > 0 && pngs.every((f) => f.mimeType === 'image/png'), 'files.list filter on mimeType', pngs);

  // files.retrieve (POST /files/byids): request order, id and externalId forms.
  const [a, b] = [images[0], all.find((f) => f.id !== images[0].id) || images[0]];
  const got = await client.files.retrieve([{ id: b.id }, { externalId: a.externalId }]);
  check(got.length === 2 && got[0].id === b.id && got[1].id === a.id, 'files.retrieve keeps request order', got.map((f) => f.id));
  let missingErr;
  try {
    await client.files.retrieve([{ id: 1 }]);
  } catch (e) {
    missingErr = e;
  }
  check(missingErr && missingErr.status === 400, 'files.retrieve of an unknown id fails with 400', missingErr && missingErr.status);
  check(Array.isArray(missingErr.missing) && missingErr.missing.some((m) => m.id === 1), 'the SDK error carries missing ids', missingErr.missing);
  check(typeof missingErr.requestId === 'string' && missingErr.requestId.length > 0, 'the SDK error carries the x-request-id', missingErr.requestId);
  const ignored = await client.files.retrieve([{ id: a.id }, { id: 1 }], { ignoreUnknownIds: true });
  check(ignored.length === 1 && ignored[0].id === a.id, 'files.retrieve with ignoreUnknownIds', ignored.map((f) => f.id));

  // files.getDownloadUrls, then fetching the URL without any credentials.
  const links = await client.files.getDownloadUrls([{ id: a.id }, { externalId: b.externalId }]);
  check(links.length === 2, 'getDownloadUrls returns one link per item', links);
  check(links[0].id === a.id && links[1].externalId === b.externalId, 'getDownloadUrls echoes the identifier form', links);
  const resp = await fetch(links[0].downloadUrl);
  check(resp.ok, 'download URL answers 200 without a bearer token', resp.status);
  check(resp.headers.get('content-type') === a.mimeType, 'download has the file mime type', resp.headers.get('content-type'));
  const bytes = new Uint8Array(await resp.arrayBuffer());
  check(bytes.length > 0, 'download has content');
  const magic = a.mimeType === 'image/png' ? [0x89, 0x50, 0x4e, 0x47] : [0xff, 0xd8, 0xff];
  check(magic.every((v, i) => bytes[i] === v), 'downloaded bytes are the image', Array.from(bytes.slice(0, 4)));

  // Token inspection, through the SDK's generic HTTP helper.
  const ti = await client.get('/api/v1/token/inspect');
  check(ti.status === 200, 'token inspect answers 200', ti.status);
  check(typeof ti.data.subject === 'string' && ti.data.subject.length > 0, 'token inspect has a subject', ti.data);
  check(ti.data.projects.some((p) => p.projectUrlName === project), 'token inspect lists the project', ti.data.projects);
  const files = ti.data.capabilities.find((c) => c.filesAcl);
  check(files && files.filesAcl.actions.includes('READ'), 'token inspect grants filesAcl:READ', ti.data.capabilities);

  // annotations: create, suggest, list (filter, paging), retrieve, update, delete.
  const fileId = images[0].id;
  const base = {
    annotatedResourceType: 'file',
    annotatedResourceId: fileId,
    annotationType: 'images.ObjectDetection',
    creatingApp: 'lasso-sdkcompat',
    creatingAppVersion: '1.0.0',
  };
  const polygon = { vertices: [{ x: 0.1, y: 0.1 }, { x: 0.5, y: 0.1 }, { x: 0.3, y: 0.4 }] };
  const created = await client.annotations.create([
    { ...base, creatingUser: null, status: 'approved', data: { label: 'valve', confidence: 0.9, polygon } },
  ]);
  check(created.length === 1 && Number.isSafeInteger(created[0].id) && created[0].id > 0, 'annotations.create returns the annotation with an id', created);
  check(created[0].status === 'approved' && created[0].creatingUser === null, 'annotations.create keeps status and a null creatingUser', created[0]);
  check(created[0].createdTime instanceof Date && created[0].lastUpdatedTime instanceof Date, 'SDK parsed annotation times as dates', created[0]);
  check(JSON.stringify(created[0].data.polygon) === JSON.stringify(polygon), 'annotations.create echoes the polygon', created[0].data);
  const suggested = await client.annotations.suggest([
    { ...base, creatingUser: 'sdk-user', data: { label: 'pump', boundingBox: { xMin: 0.1, xMax: 0.2, yMin: 0.3, yMax: 0.4 } } },
  ]);
  check(suggested.length === 1 && suggested[0].status === 'suggested', 'annotations.suggest stores suggested', suggested);
  check(suggested[0].id > created[0].id, 'annotation ids increase', [created[0].id, suggested[0].id]);

  const filter = { annotatedResourceType: 'file', annotatedResourceIds: [{ id: fileId }] };
  const listed = await client.annotations.list({ filter, limit: 1 }).autoPagingToArray({ limit: Infinity });
  check(listed.length === 2 && listed[0].id === created[0].id && listed[1].id === suggested[0].id, 'annotations.list pages through the file\'s annotations', listed.map((a) => a.id));
  const byLabel = await client.annotations.list({ filter: { ...filter, data: { label: 'valve' } } });
  check(byLabel.items.length === 1 && byLabel.items[0].id === created[0].id, 'annotations.list filters on data', byLabel.items);
  const byStatus = await client.annotations.list({ filter: { ...filter, status: 'suggested', creatingUser: 'sdk-user' } });
  check(byStatus.items.length === 1 && byStatus.items[0].id === suggested[0].id, 'annotations.list filters on status and creatingUser', byStatus.items);

  const retrieved = await client.annotations.retrieve([{ id: suggested[0].id }, { id: created[0].id }]);
  check(retrieved.length === 2 && retrieved[0].id === suggested[0].id && retrieved[1].id === created[0].id, 'annotations.retrieve keeps request order', retrieved.map((a) => a.id));
  const updated = await client.annotations.update([{ id: suggested[0].id, update: { status: { set: 'rejected' } } }]);
  check(updated.length === 1 && updated[0].status === 'rejected', 'annotations.update sets the status', updated);
  const relabelled = await client.annotations.update([{ id: created[0].id, update: { data: { set: { label: 'gate valve', polygon } } } }]);
  check(relabelled[0].data.label === 'gate valve', 'annotations.update sets data', relabelled[0].data);

  let invalidErr;
  try {
    await client.annotations.create([
      { ...base, creatingUser: null, status: 'approved', data: { label: 'bad', polygon: { vertices: polygon.vertices.slice(0, 2) } } },
    ]);
  } catch (e) {
    invalidErr = e;
  }
  check(invalidErr && invalidErr.status === 400, 'annotations.create of a 2-vertex polygon fails with 400', invalidErr && invalidErr.status);

  await client.annotations.delete([{ id: created[0].id }, { id: suggested[0].id }]);
  let goneErr;
  try {
    await client.annotations.retrieve([{ id: created[0].id }]);
  } catch (e) {
    goneErr = e;
  }
  check(goneErr && goneErr.status === 400 && Array.isArray(goneErr.missing) && goneErr.missing.some((m) => m.id === created[0].id), 'a deleted annotation is missing', goneErr && goneErr.missing);
  const empty = await client.annotations.list({ filter });
  check(empty.items.length === 0, 'annotations.list is empty after delete', empty.items);

  console.log(`compat: ${checks} checks passed against ${baseUrl} (project ${project}, @cognite/sdk)`);
}

main().catch((e) => {
  console.error(`compat: FAILED after ${checks} checks: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
