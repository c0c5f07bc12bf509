// Pure geometry for the annotation canvas. No DOM, no state: every function
// takes plain numbers and objects and returns new ones, so `node --test`
// covers them.
//
// Three coordinate spaces:
//   screen — CSS pixels relative to the canvas' top-left corner;
//   image  — pixels of the image at its natural size;
//   norm   — image coordinates divided by the natural size, 0..1, origin
//            top-left (what the server and CDF speak).
// A view {scale, tx, ty} maps image → screen: s = i * scale + t.

/** Smallest and largest zoom, as screen px per image px. */
export const MIN_SCALE = 0.02;
export const MAX_SCALE = 64;

/** A pointer that moved less than this many CSS px between down and up clicked. */
export const DRAG_THRESHOLD = 4;

/** Detail levels for [ and ]: Douglas–Peucker tolerance in image px; the last is raw. */
export const DETAIL_TOLERANCES = [8, 4, 2, 1, 0.5, 0];

const clamp = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

/** Clamps v into [0, 1]; NaN becomes 0. */
export function clamp01(v) {
  return Number.isFinite(v) ? clamp(v, 0, 1) : 0;
}

/**
 * The view that fits an image of w×h into a viewport of vw×vh with `pad` CSS px
 * of margin on every side, centred. A small image is enlarged to fill it (a 16×16 icon is
 * annotated at its pixels, not as a speck), up to `maxFitScale`.
 */
export function fitView(w, h, vw, vh, pad = 16, maxFitScale = MAX_SCALE) {
  if (!(w > 0 && h > 0 && vw > 0 && vh > 0)) return { scale: 1, tx: 0, ty: 0 };
  const aw = Math.max(1, vw - 2 * pad);
  const ah = Math.max(1, vh - 2 * pad);
  const scale = clamp(Math.min(aw / w, ah / h, maxFitScale), MIN_SCALE, MAX_SCALE);
  return { scale, tx: (vw - w * scale) / 2, ty: (vh - h * scale) / 2 };
}

/**
 * Zooms by `factor` keeping the image point under screen (sx, sy) fixed.
 * The result's scale is clamped to [min, max].
 */
export function zoomAt(view, factor, sx, sy, min = MIN_SCALE, max = MAX_SCALE) {
  const scale = clamp(view.scale * factor, min, max);
  const k = scale / view.scale;
  return { scale, tx: sx - (sx - view.tx) * k, ty: sy - (sy - view.ty) * k };
}

/** Moves the view by (dx, dy) screen px. */
export function panBy(view, dx, dy) {
  return { scale: view.scale, tx: view.tx + dx, ty: view.ty + dy };
}

/** Zoom factor for one wheel event: smooth for trackpads, ~10% per mouse notch. */
export function wheelZoomFactor(deltaY, deltaMode = 0) {
  // deltaMode 1 = lines, 2 = pages; normalise to pixels first.
  const px = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.exp(-clamp(px, -200, 200) * 0.0011);
}

/** Client (viewport) coordinates → screen coordinates of an element's rect. */
export function clientToScreen(clientX, clientY, rect) {
  return { x: clientX - rect.left, y: clientY - rect.top };
}

/** Screen → image px. */
export function screenToImage(view, sx, sy) {
  return { x: (sx - view.tx) / view.scale, y: (sy - view.ty) / view.scale };
}

/** Image px → screen. */
export function imageToScreen(view, ix, iy) {
  return { x: ix * view.scale + view.tx, y: iy * view.scale + view.ty };
}

/** Image px → normalised 0..1 (not clamped). */
export function imageToNorm(ix, iy, w, h) {
  return { x: ix / w, y: iy / h };
}

/** Normalised → image px. */
export function normToImage(nx, ny, w, h) {
  return { x: nx * w, y: ny * h };
}

/** Screen → normalised (not clamped). */
export function screenToNorm(view, sx, sy, w, h) {
  const p = screenToImage(view, sx, sy);
  return imageToNorm(p.x, p.y, w, h);
}

/** Normalised → screen. */
export function normToScreen(view, nx, ny, w, h) {
  return imageToScreen(view, nx * w, ny * h);
}

/** Client → normalised, through the element rect and the view. */
export function clientToNorm(clientX, clientY, rect, view, w, h) {
  const s = clientToScreen(clientX, clientY, rect);
  return screenToNorm(view, s.x, s.y, w, h);
}

/** True when a normalised point lies on the image (inclusive). */
export function insideNorm(p) {
  return p.x >= 0 && p.x <= 1 && p.y >= 0 && p.y <= 1;
}

/** True when the pointer moved far enough between (x0,y0) and (x1,y1) to be a drag. */
export function isDrag(x0, y0, x1, y1, threshold = DRAG_THRESHOLD) {
  return Math.hypot(x1 - x0, y1 - y0) >= threshold;
}

/**
 * The box spanned by two normalised corners: ordered (min < max), clamped to
 * 0..1. Returns null when the clamped box has no area (e.g. dragged entirely
 * outside the image, or a line).
 */
export function normaliseBox(a, b) {
  const xMin = clamp01(Math.min(a.x, b.x));
  const xMax = clamp01(Math.max(a.x, b.x));
  const yMin = clamp01(Math.min(a.y, b.y));
  const yMax = clamp01(Math.max(a.y, b.y));
  if (!(xMin < xMax && yMin < yMax)) return null;
  return { xMin, yMin, xMax, yMax };
}

/**
 * Index of the normalised point nearest to screen (sx, sy) within `radius`
 * screen px, or -1. Points are tested on screen so the hit area stays the same
 * size at every zoom.
 */
export function hitPoint(points, sx, sy, view, w, h, radius = 8) {
  let best = -1;
  let bestD = radius;
  for (let i = 0; i < points.length; i++) {
    const s = normToScreen(view, points[i].x, points[i].y, w, h);
    const d = Math.hypot(s.x - sx, s.y - sy);
    if (d <= bestD) {
      best = i;
      bestD = d;
    }
  }
  return best;
}

/** Bounding box {xMin,yMin,xMax,yMax} of polygons given as vertex arrays, or null when empty. */
export function bboxOfPolygons(polygons) {
  let xMin = Infinity;
  let yMin = Infinity;
  let xMax = -Infinity;
  let yMax = -Infinity;
  for (const poly of polygons) {
    for (const v of poly) {
      if (v.x < xMin) xMin = v.x;
      if (v.x > xMax) xMax = v.x;
      if (v.y < yMin) yMin = v.y;
      if (v.y > yMax) yMax = v.y;
    }
  }
  if (xMin === Infinity) return null;
  return { xMin, yMin, xMax, yMax };
}

/** Even-odd point-in-polygon test for one ring of vertices. */
export function pointInPolygon(p, vertices) {
  let inside = false;
  for (let i = 0, j = vertices.length - 1; i < vertices.length; j = i++) {
    const a = vertices[i];
    const b = vertices[j];
    if (a.y > p.y !== b.y > p.y && p.x < ((b.x - a.x) * (p.y - a.y)) / (b.y - a.y) + a.x) {
      inside = !inside;
    }
  }
  return inside;
}

/**
 * Even-odd test over several rings at once, so a hole (a ring inside another)
 * is outside — matching how the canvas fills them.
 */
export function pointInPolygons(p, polygons) {
  let inside = false;
  for (const poly of polygons) if (pointInPolygon(p, poly)) inside = !inside;
  return inside;
}

/** Squared distance from p to segment ab. */
function segDist2(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  let t = len2 === 0 ? 0 : ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2;
  t = clamp(t, 0, 1);
  const ex = a.x + t * dx - p.x;
  const ey = a.y + t * dy - p.y;
  return ex * ex + ey * ey;
}

/**
 * Douglas–Peucker simplification of an open polyline: keeps the endpoints and
 * every vertex farther than `tolerance` from the simplified line. Iterative, so
 * 1000-vertex outlines cannot overflow the stack. Returns a new array.
 */
export function simplifyPolyline(points, tolerance) {
  const n = points.length;
  if (n <= 2 || !(tolerance > 0)) return points.slice();
  const keep = new Uint8Array(n);
  keep[0] = 1;
  keep[n - 1] = 1;
  const tol2 = tolerance * tolerance;
  const stack = [[0, n - 1]];
  while (stack.length) {
    const [first, last] = stack.pop();
    let maxD = -1;
    let index = -1;
    for (let i = first + 1; i < last; i++) {
      const d = segDist2(points[i], points[first], points[last]);
      if (d > maxD) {
        maxD = d;
        index = i;
      }
    }
    if (index !== -1 && maxD > tol2) {
      keep[index] = 1;
      stack.push([first, index], [index, last]);
    }
  }
  return points.filter((_, i) => keep[i]);
}

/**
 * Douglas–Peucker for a closed ring: splits it at the vertex farthest from the
 * first, simplifies both halves, and joins them. The result keeps at least 3
 * vertices when the input had them (a ring never collapses to a line), and the
 * input is never modified — the raw polygon stays available.
 */
export function simplifyRing(vertices, tolerance) {
  const n = vertices.length;
  if (n <= 3 || !(tolerance > 0)) return vertices.slice();
  let far = 0;
  let farD = -1;
  for (let i = 1; i < n; i++) {
    const d = (vertices[i].x - vertices[0].x) ** 2 + (vertices[i].y - vertices[0].y) ** 2;
    if (d > farD) {
      farD = d;
      far = i;
    }
  }
  const a = simplifyPolyline(vertices.slice(0, far + 1), tolerance);
  const b = simplifyPolyline(vertices.slice(far).concat([vertices[0]]), tolerance);
  const ring = a.concat(b.slice(1, -1));
  if (ring.length >= 3) return ring;
  // Too coarse: keep the three vertices that span the largest triangle-ish shape.
  let third = -1;
  let thirdD = -1;
  for (let i = 0; i < n; i++) {
    if (i === 0 || i === far) continue;
    const d = segDist2(vertices[i], vertices[0], vertices[far]);
    if (d > thirdD) {
      thirdD = d;
      third = i;
    }
  }
  return [0, far, third].sort((x, y) => x - y).map((i) => vertices[i]);
}

/**
 * Simplifies normalised polygon rings with a tolerance given in image px,
 * so the result looks the same for every image size.
 */
export function simplifyNormPolygons(polygons, tolerancePx, w, h) {
  if (!(tolerancePx > 0) || !(w > 0 && h > 0)) return polygons.map((p) => p.slice());
  return polygons.map((ring) => {
    const px = ring.map((v) => ({ x: v.x * w, y: v.y * h }));
    return simplifyRing(px, tolerancePx).map((v) => ({ x: v.x / w, y: v.y / h }));
  });
}

/** Formats a normalised box as "xMin,yMin,xMax,yMax" with 4 decimals, "" for none. */
export function formatBox(b) {
  if (!b) return '';
  return [b.xMin, b.yMin, b.xMax, b.yMax].map((v) => v.toFixed(4)).join(',');
}
