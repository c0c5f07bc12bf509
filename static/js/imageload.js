// loadImage: fetches the annotation page's image with progress ("Loading image… 40% of
// 3.1 MB") and decodes it, with an error a person understands when either fails.

import { errorMessage } from './api.js';

/** Short human size, e.g. "1.4 MB". */
export function mb(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} KB`;
}

/** The text of a failed load: err from loadImage, or a TypeError when the server was not reached. */
export function loadErrorText(err) {
  return err instanceof TypeError ? 'The server could not be reached — check that Lasso is running, then try again.' : err.message;
}

/**
 * Fetches url and decodes it to an ImageBitmap. progress(text, received, total) hears each
 * step (total 0: unknown length). Rejects with an Error whose message is for the user
 * (loadErrorText).
 */
export async function loadImage(url, progress = () => {}, decode = (blob) => createImageBitmap(blob)) {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) {
    const msg = await errorMessage(res);
    throw new Error(res.status === 404 ? 'The image was not found — it may have been deleted.' : msg);
  }
  const total = Number(res.headers.get('Content-Length')) || 0;
  const chunks = [];
  let received = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.byteLength;
      if (total) progress(`Loading image… ${Math.round((100 * received) / total)}% of ${mb(total)}`, received, total);
      else progress(`Loading image… ${mb(received)}`, received, 0);
    }
  } else {
    chunks.push(new Uint8Array(await res.arrayBuffer()));
  }
  progress('Decoding…', received, total);
  const blob = new Blob(chunks, { type: res.headers.get('Content-Type') || '' });
  try {
    return await decode(blob);
  } catch {
    throw new Error('The file could not be decoded as an image (Lasso opens JPEG and PNG).');
  }
}
