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

  console.log(`compat: ${checks} checks passed against ${baseUrl} (project ${project}, @cognite/sdk)`);
}

main().catch((e) => {
  console.error(`compat: FAILED after ${checks} checks: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
