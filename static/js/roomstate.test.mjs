// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { RoomState, memberColor, initials, lockHolder, normaliseProgress, LOCK_MS, MEMBER_PALETTE } from './roomstate.js';

test('memberColor is FNV-1a over the id, like rooms.Color and views.MemberColor', () => {
  // The same vectors are checked in views/views_test.go.
  assert.equal(memberColor(''), MEMBER_PALETTE[2166136261 % 10]);
  assert.equal(memberColor('ana'), '#30a46c');
  assert.equal(memberColor('local:bo'), '#12a594');
  assert.equal(memberColor('ana'), memberColor('ana'), 'stable');
  assert.ok(MEMBER_PALETTE.includes(memberColor('ø-unicode-ü')));
});

test('initials match the server avatar', () => {
  assert.equal(initials('Ana Lima'), 'AL');
  assert.equal(initials('bo'), 'B');
  assert.equal(initials('Åsa von Berg'), 'ÅV');
  assert.equal(initials('  '), '?');
  assert.equal(initials('(x) Ola'), 'O');
});

const snapshot = {
  type: 'snapshot', room: 'room:r1', seq: 5,
  data: {
    room: { id: 'r1', name: 'R', labels: [{ name: 'car', color: '#ff0000', key: 1 }, { name: 'person', color: '#00ff00', key: 2 }] },
    members: [
      { roomId: 'r1', userId: 'me', name: 'Me Myself', role: 'owner' },
      { roomId: 'r1', userId: 'ana', name: 'Ana Lima', role: 'member' },
      { roomId: 'r1', userId: 'bo', name: 'Bo', role: 'member' },
    ],
    presence: [
      { userId: 'me', name: 'Me Myself', color: '#111111', fileId: null },
      { userId: 'ana', name: 'Ana Lima', color: '#222222', fileId: 7 },
    ],
    images: [
      { fileId: 7, status: 'in_progress', objects: 2, present: ['ana'] },
      { fileId: 8, status: 'done', doneBy: 'bo', objects: 1, present: [] },
      { fileId: 9, status: 'untouched', objects: 0, present: [] },
    ],
    progress: { done: 1, inProgress: 1, untouched: 1, perLabel: { person: 1, car: 2 }, perMember: { ana: 2, bo: 1 } },
  },
};

test('a snapshot sets members, presence, images and progress', () => {
  const s = new RoomState({ me: 'me' });
  const changed = s.apply(snapshot);
  assert.deepEqual([...changed].sort(), ['images', 'members', 'presence', 'progress']);
  assert.equal(s.members.size, 3);
  assert.equal(s.colorOf('ana'), '#222222');
  assert.equal(s.colorOf('bo'), memberColor('bo'), 'hash fallback for members not present');
  assert.deepEqual(s.on(7).map((p) => p.userId), ['ana']);
  assert.deepEqual(s.on(8), []);
  assert.equal(s.images.get('8').doneBy, 'bo');
  assert.deepEqual(s.counts(), { done: 1, inProgress: 1, untouched: 1, total: 3 });
  assert.equal(s.progress.total, 3);
  assert.deepEqual(s.progress.labels.map((l) => [l.name, l.color, l.objects]), [['car', '#ff0000', 2], ['person', '#00ff00', 1]], 'label order and colours from the room');
  assert.deepEqual(s.progress.members.map((m) => [m.name, m.objects]), [['Ana Lima', 2], ['Bo', 1]]);
});

test('presence events move members between images and out; unknown members are added', () => {
  const s = new RoomState({ me: 'me' });
  s.apply(snapshot);
  assert.ok(s.apply({ type: 'member.presence', data: { userId: 'ana', name: 'Ana Lima', color: '#222222', fileId: 9, present: true } }).has('presence'));
  assert.deepEqual(s.on(7), []);
  assert.deepEqual(s.on('9').map((p) => p.name), ['Ana Lima']);
  assert.equal(s.apply({ type: 'member.presence', data: { userId: 'ana', name: 'Ana Lima', color: '#222222', fileId: 9, present: true } }).size, 1, 'repeat: members only');
  s.apply({ type: 'member.presence', data: { userId: 'ana', fileId: null, present: false } });
  assert.equal(s.presence.has('ana'), false);
  s.apply({ type: 'member.presence', data: { userId: 'cy', name: 'Cy', color: '#333333', fileId: 9, present: true } });
  assert.equal(s.members.get('cy').name, 'Cy');
  assert.deepEqual([...s.byImage().keys()], ['9']);
});

test('image.status, progress and member.removed', () => {
  const s = new RoomState({ me: 'me' });
  s.apply(snapshot);
  assert.ok(s.apply({ type: 'image.status', data: { fileId: 9, status: 'done', doneBy: 'me' } }).has('images'));
  assert.equal(s.images.get('9').status, 'done');
  s.apply({ type: 'image.status', data: { fileId: 8, status: 'in_progress', doneBy: 'bo' } });
  assert.equal(s.images.get('8').doneBy, '', 'doneBy only for done images');
  s.apply({ type: 'image.status', data: { fileId: 8, status: 'weird' } });
  assert.equal(s.images.get('8').status, 'untouched');
  s.apply({ type: 'progress', data: { done: 2, inProgress: 0, untouched: 1, labels: [{ name: 'car', color: '#f00', objects: 4 }], members: [] } });
  assert.equal(s.progress.done, 2);
  assert.equal(s.progress.labels[0].objects, 4);
  let c = s.apply({ type: 'member.removed', data: { userId: 'ana' } });
  assert.ok(c.has('members') && c.has('presence') && !c.has('removed'));
  assert.equal(s.removed, false);
  c = s.apply({ type: 'member.removed', data: { userId: 'me' } });
  assert.ok(c.has('removed'));
  assert.equal(s.removed, true);
});

test('member.role makes a member a reviewer and back, live', () => {
  const s = new RoomState({ me: 'me' });
  s.apply(snapshot);
  assert.equal(s.roleOf('me'), 'owner');
  assert.equal(s.roleOf('ana'), 'member');
  assert.ok(s.apply({ type: 'member.role', data: { userId: 'ana', role: 'reviewer' } }).has('members'));
  assert.equal(s.roleOf('ana'), 'reviewer');
  assert.equal(s.members.get('ana').name, 'Ana Lima', 'the rest of the member stays');
  assert.equal(s.apply({ type: 'member.role', data: { userId: 'ana', role: 'reviewer' } }).size, 0, 'repeat: no change');
  assert.equal(s.apply({ type: 'member.role', data: { userId: 'nobody', role: 'reviewer' } }).size, 0);
  assert.equal(s.apply({ type: 'member.role', data: { userId: 'ana' } }).size, 0);
  s.apply({ type: 'member.role', data: { userId: 'ana', role: 'member' } });
  assert.equal(s.roleOf('ana'), 'member');
  assert.equal(s.roleOf('nobody'), '');
  // An image's awaiting-review count is kept when the server sends one.
  s.apply({ type: 'image.status', data: { fileId: 7, status: 'in_progress', objects: 2, awaiting: 1 } });
  assert.equal(s.images.get('7').awaiting, 1);
  s.apply({ type: 'image.status', data: { fileId: 7, status: 'done', doneBy: 'me' } });
  assert.equal(s.images.get('7').awaiting, 1);
  assert.equal(s.images.get('8').awaiting, undefined);
});

test('normaliseProgress accepts arrays, maps and nothing', () => {
  assert.deepEqual(normaliseProgress(null), { done: 0, inProgress: 0, untouched: 0, total: 0, labels: [], members: [] });
  assert.equal(normaliseProgress({ done: 1, in_progress: 2, untouched: 3 }).total, 6);
  assert.equal(normaliseProgress({ done: 1, total: 10 }).total, 10);
});

test('the soft lock holds while the author is present on this image and active, then frees itself', () => {
  let now = 100000;
  const s = new RoomState({ me: 'me', fileId: 7, now: () => now });
  s.apply(snapshot);
  const obj = { author: { id: 'ana', name: 'Ana' } };
  assert.equal(s.lockOf(obj), '', 'no prompt seen yet');
  s.noteActivity('ana', now);
  assert.equal(s.lockOf(obj), 'Ana Lima');
  now += LOCK_MS;
  assert.equal(s.lockOf(obj), 'Ana Lima', 'held up to 30 s');
  now += 1;
  assert.equal(s.lockOf(obj), '', 'idle: freed');
  s.noteActivity('ana', now);
  assert.equal(s.lockOf(obj), 'Ana Lima');
  s.apply({ type: 'member.presence', data: { userId: 'ana', fileId: 9, present: true } });
  assert.equal(s.lockOf(obj), '', 'moved to another image: freed');
  s.apply({ type: 'member.presence', data: { userId: 'ana', fileId: 7, present: true } });
  assert.equal(s.lockOf(obj), 'Ana Lima');
  s.apply({ type: 'member.presence', data: { userId: 'ana', present: false } });
  assert.equal(s.lockOf(obj), '', 'left: freed');
  assert.equal(s.lockOf({ author: { id: 'me', name: 'Me' } }), '', 'never locked against oneself');
  assert.equal(s.lockOf({ author: null }), '');
  // Without an image (the grid), presence anywhere counts.
  const presence = new Map([['ana', { present: true, fileId: '9', name: 'Ana' }]]);
  assert.equal(lockHolder(obj, { me: 'me', presence, lastActive: new Map([['ana', 5]]), now: 10 }), 'Ana');
});

test('snapshot objects count as activity at their server time, never in the future', () => {
  let now = Date.parse('2026-01-01T00:00:40Z');
  const s = new RoomState({ me: 'me', fileId: 7, now: () => now });
  s.apply({ ...snapshot, data: { ...snapshot.data, objects: [
    { objectId: 'a', authorId: 'ana', updatedAt: '2026-01-01T00:00:30Z' },
    { objectId: 'b', authorId: 'me', updatedAt: '2026-01-01T00:00:39Z' },
  ] } });
  assert.equal(s.lastActive.get('ana'), Date.parse('2026-01-01T00:00:30Z'));
  assert.equal(s.lastActive.has('me'), false);
  assert.equal(s.lockOf({ author: { id: 'ana', name: 'Ana' } }), 'Ana Lima');
});
