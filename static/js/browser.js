// FileGrid: the controller for [data-file-grid] on the image browser.
// Arrow keys move between thumbnails (the grid's column count is measured,
// so it follows the responsive layout), Home/End jump to the ends, "/" focuses
// the name filter, and a broken thumbnail falls back to a placeholder. The
// filter form is a plain GET form: it applies on Enter or the Filter button
// (not on every change of the directory list, which arrow keys would trigger).

/** Index reached from `index` by an arrow key in a grid of `count` items and `cols` columns, or -1. */
export function gridStep(index, key, count, cols) {
  let next = -1;
  switch (key) {
    case 'ArrowRight':
      next = index + 1;
      break;
    case 'ArrowLeft':
      next = index - 1;
      break;
    case 'ArrowDown':
      next = index + cols;
      break;
    case 'ArrowUp':
      next = index - cols;
      break;
    case 'Home':
      next = 0;
      break;
    case 'End':
      next = count - 1;
      break;
  }
  return next >= 0 && next < count ? next : -1;
}

/** The controller for one thumbnail grid. */
export class FileGrid {
  constructor(grid) {
    this.grid = grid;
    grid.addEventListener('keydown', (e) => this.onKeyDown(e));
    // error does not bubble: listen in the capture phase for every thumbnail.
    grid.addEventListener(
      'error',
      (e) => {
        if (e.target instanceof HTMLImageElement) e.target.closest('.thumb')?.classList.add('is-broken');
      },
      true,
    );
    // Thumbnails that failed before this module ran (modules are deferred).
    for (const img of grid.querySelectorAll('img')) {
      if (img.complete && img.naturalWidth === 0) img.closest('.thumb')?.classList.add('is-broken');
    }
  }

  links() {
    return [...this.grid.querySelectorAll('a.file-link')];
  }

  columns(links) {
    if (links.length < 2) return 1;
    const top = links[0].getBoundingClientRect().top;
    const n = links.findIndex((l) => l.getBoundingClientRect().top > top + 1);
    return n === -1 ? links.length : n;
  }

  onKeyDown(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const links = this.links();
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    const next = gridStep(i, e.key, links.length, this.columns(links));
    if (next < 0) return;
    e.preventDefault();
    links[next].focus();
  }
}

for (const el of document.querySelectorAll('[data-file-grid]')) new FileGrid(el);

const form = document.querySelector('[data-filter-form]');
if (form) {
  const name = form.querySelector('[data-filter-name]');
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = t instanceof Element && (t.matches('input, textarea, select') || t.isContentEditable);
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      name?.focus();
      name?.select();
    }
  });
}
