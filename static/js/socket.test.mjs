// Run with: node --test static/js/
import test from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, socketURL, LiveSocket } from './socket.js';

test('backoffDelay grows exponentially, is capped, and is jittered', () => {
  const lo = (n) => backoffDelay(n, { random: () => 0 });
  const hi = (n) => backoffDelay(n, { random: () => 1 });
  assert.equal(lo(0), 250);
  assert.equal(hi(0), 500);
  assert.equal(hi(1), 1000);
  assert.equal(hi(3), 4000);
  assert.equal(hi(10), 15000);
  assert.equal(hi(1000), 15000);
  for (let n = 0; n < 12; n++) assert.ok(lo(n) <= hi(n));
});

test('socketURL follows the page protocol and escapes the room', () => {
  assert.equal(socketURL('image:42', { protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/ws?room=image%3A42');
  assert.equal(socketURL('a b', { protocol: 'https:', host: 'lasso.example' }), 'wss://lasso.example/ws?room=a%20b');
});

test('LiveSocket delivers parsed messages and reconnects after a close', async (t) => {
  globalThis.location = { protocol: 'http:', host: 'h' };
  t.after(() => delete globalThis.location);
  const sockets = [];
  class FakeWS {
    constructor(url) {
      this.url = url;
      sockets.push(this);
    }
    close() {}
  }
  const got = [];
  const states = [];
  const s = new LiveSocket('r1', { onmessage: (m) => got.push(m), onstate: (st) => states.push(st), WebSocketImpl: FakeWS });
  s.start();
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url, 'ws://h/ws?room=r1');
  sockets[0].onopen();
  sockets[0].onmessage({ data: '{"type":"snapshot","room":"r1","seq":3,"data":{"objects":[]}}' });
  sockets[0].onmessage({ data: 'not json' });
  sockets[0].onmessage({ data: '{"no":"type"}' });
  assert.deepEqual(got, [{ type: 'snapshot', room: 'r1', seq: 3, data: { objects: [] } }]);
  sockets[0].onclose();
  assert.equal(s.state, 'reconnecting');
  s.connectNow();
  assert.equal(sockets.length, 2);
  sockets[0].onmessage({ data: '{"type":"job.status"}' }); // the old socket is ignored
  assert.equal(got.length, 1);
  s.stop();
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'reconnecting', 'closed']);
});

test('socketURL adds extra parameters, leaving out empty ones', () => {
  const loc = { protocol: 'http:', host: 'h' };
  assert.equal(socketURL('room:r1', loc, { image: 7, since: 0 }), 'ws://h/ws?room=room%3Ar1&image=7&since=0');
  assert.equal(socketURL('room:r1', loc, { image: null, since: '' }), 'ws://h/ws?room=room%3Ar1');
});

test('LiveSocket asks params on every connect: a reconnect passes the last seq', (t) => {
  globalThis.location = { protocol: 'http:', host: 'h' };
  t.after(() => delete globalThis.location);
  const urls = [];
  class FakeWS {
    constructor(url) {
      urls.push(url);
      FakeWS.last = this;
    }
    close() {}
  }
  const s = new LiveSocket('room:r1', { WebSocketImpl: FakeWS, params: (sock) => ({ image: 7, since: sock.lastSeq || '' }) });
  s.start();
  FakeWS.last.onopen();
  FakeWS.last.onmessage({ data: '{"type":"snapshot","seq":41}' });
  FakeWS.last.onmessage({ data: '{"type":"progress","seq":42}' });
  FakeWS.last.onclose();
  s.connectNow();
  s.stop();
  assert.deepEqual(urls, ['ws://h/ws?room=room%3Ar1&image=7', 'ws://h/ws?room=room%3Ar1&image=7&since=42']);
});
