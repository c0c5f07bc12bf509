// Member avatars and colour painting, shared by the room and annotation pages.
// Colours come from data-color and are set through the CSSOM (a custom
// property --c), which the strict CSP allows where a style attribute is not.

import { initials } from './roomstate.js';

const HEX = /^#[0-9a-fA-F]{6}$/;

/** Paints every [data-color] element under root (and root itself) with its colour as --c. */
export function paintColors(root) {
  const els = root.matches?.('[data-color]') ? [root, ...root.querySelectorAll('[data-color]')] : root.querySelectorAll('[data-color]');
  for (const el of els) paint(el, el.dataset.color);
}

/** Sets --c on an element when the colour is a "#rrggbb". */
export function paint(el, color) {
  if (HEX.test(color || '')) el.style.setProperty('--c', color);
  else el.style.removeProperty('--c');
}

/** A member's avatar: initials in the member's colour, the name as tooltip. */
export function avatarEl(m, extraClass = 'avatar-sm') {
  const el = document.createElement('span');
  el.className = `avatar member-avatar ${extraClass}`.trim();
  el.dataset.presenceUser = m.userId;
  el.dataset.color = m.color || '';
  el.title = m.name || '';
  el.textContent = initials(m.name);
  paint(el, m.color);
  return el;
}

/** Shows exactly these members' avatars in container; does nothing when they are already shown. */
export function renderAvatars(container, members, extraClass = 'avatar-sm') {
  const key = members.map((m) => `${m.userId}|${m.name}|${m.color}`).join(',');
  if (container.dataset.shown === key) return false;
  container.dataset.shown = key;
  container.replaceChildren(...members.map((m) => avatarEl(m, extraClass)));
  return true;
}
