// api.js: the page's requests to Lasso's own API. State-changing requests carry the CSRF
// token the page was rendered with (the X-CSRF-Token header, never the URL); a failed request
// is told in words a person understands, from the server's {"error":{"message"}} when it sent
// one, else by status. Every module that talks to the server goes through it.

const CSRF_META = 'meta[name="csrf-token"]';

/** The text of a request that never reached the server. */
export const UNREACHABLE = 'The server could not be reached — check your connection, then try again.';

/** The texts by status when the server sent no message of its own. */
const STATUS_TEXT = {
  401: 'Your sign-in expired — sign in again; your prompts are kept.',
  403: 'The server refused the request — reload the page and try again.',
  404: 'This image no longer exists — go back to the images.',
  413: 'The prompt is too large — remove some points.',
  429: 'Too many requests — wait a moment, then retry.',
};

/** The CSRF token of the page ("" when it has none, e.g. outside a browser). */
export function csrfToken() {
  return globalThis.document?.querySelector(CSRF_META)?.content || '';
}

/**
 * POSTs body as JSON (no body when it is undefined) with the CSRF header. Resolves to the
 * Response whatever its status; rejects only when the server could not be reached.
 */
export function postJSON(url, body) {
  return globalThis.fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** GETs url asking for JSON; resolves to the Response, rejects when the server could not be reached. */
export function getJSON(url) {
  return globalThis.fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
}

/**
 * The message of a failed response: the server's {"error":{"message"}}, else texts[status]
 * (a caller's own words for a status), else the page's default for the status; texts.other(status)
 * replaces the generic text of any other status.
 */
export async function errorMessage(res, texts = {}) {
  try {
    const msg = (await res.json())?.error?.message;
    if (typeof msg === 'string' && msg) return msg;
  } catch {
    // not JSON: fall through to the status
  }
  const s = res.status;
  if (typeof texts[s] === 'string') return texts[s];
  if (typeof texts.other === 'function') return texts.other(s);
  if (STATUS_TEXT[s]) return STATUS_TEXT[s];
  return s >= 500 ? `The server failed (HTTP ${s}) — retry in a moment.` : `The request was refused (HTTP ${s}).`;
}

/** The address that signs in again and comes back to loc (path and query). */
export function signInHref(loc) {
  return '/auth/login?return_to=' + encodeURIComponent(loc.pathname + loc.search);
}

/**
 * Tells the user their sign-in ended, with a link that signs in again and comes back to this
 * page, in a banner under the header (once). Prompts kept in sessionStorage are re-sent after it.
 */
export function showSignInNotice(message, doc = globalThis.document) {
  if (!doc || doc.querySelector('[data-signin-notice]')) return;
  const banner = doc.createElement('div');
  banner.className = 'warning-banner';
  banner.dataset.signinNotice = '';
  banner.setAttribute('role', 'alert');
  const text = doc.createElement('p');
  text.textContent = message + ' ';
  const link = doc.createElement('a');
  link.href = signInHref(globalThis.location);
  link.textContent = 'Sign in again';
  text.append(link);
  banner.append(text);
  doc.querySelector('.app-header')?.after(banner);
}
