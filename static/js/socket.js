// LiveSocket: the page's WebSocket to /ws?room=…, reconnecting forever with
// exponential backoff and full jitter. Messages are JSON
// {"type", "room", "seq", "data"}; on every (re)connect the server sends a
// "snapshot" first, then live events. The socket only receives: commands go
// over HTTP (ARCHITECTURE.md).

/** Connection states reported to onstate. */
export const STATES = ['connecting', 'open', 'reconnecting', 'closed'];

/**
 * Delay before reconnect attempt n (0-based): full jitter over an exponential
 * ceiling, so a server restart is not met by every client at the same instant.
 */
export function backoffDelay(attempt, { base = 500, max = 15000, random = Math.random } = {}) {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return Math.round(base / 2 + random() * (ceiling - base / 2));
}

/**
 * The same-origin WebSocket URL for a room, ws: or wss: after the page's protocol.
 * params are extra query parameters (e.g. image, since); empty values are left out.
 */
export function socketURL(room, loc = globalThis.location, params = {}) {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  let url = `${proto}//${loc.host}/ws?room=${encodeURIComponent(room)}`;
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') url += `&${encodeURIComponent(k)}=${encodeURIComponent(v)}`;
  }
  return url;
}

/** A reconnecting WebSocket client for one room. */
export class LiveSocket {
  /**
   * @param {string} room
   * @param {{onmessage?: (msg: object) => void,
   *          onstate?: (state: string, info: {attempt: number, retryInMs: number}) => void,
   *          WebSocketImpl?: typeof WebSocket,
   *          params?: (socket: LiveSocket) => object}} handlers
   *   params gives extra query parameters for each (re)connect, e.g. a room page's
   *   {image, since: socket.lastSeq} so the server can replay what was missed.
   */
  constructor(room, { onmessage = () => {}, onstate = () => {}, WebSocketImpl = globalThis.WebSocket, params = () => ({}) } = {}) {
    this.room = room;
    this.params = params;
    this.onmessage = onmessage;
    this.onstate = onstate;
    this.WebSocketImpl = WebSocketImpl;
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.stableTimer = 0;
    this.stopped = false;
    this.state = 'closed';
    this.lastSeq = 0;
    this.retryAt = 0;
    this.wake = () => {
      // Back online or back in view: try now instead of waiting out the backoff.
      if (!this.stopped && this.state === 'reconnecting') this.connectNow();
    };
    // Leaving the page closes the connection, so the room sees the member leave at once; a
    // page kept in the back/forward cache would otherwise keep its socket open. Coming back
    // to such a page reconnects.
    this.hide = () => {
      if (this.stopped) return;
      this.paused = true;
      clearTimeout(this.timer);
      const ws = this.ws;
      this.ws = null;
      if (ws) ws.close(1000, 'page hidden');
    };
    this.show = (e) => {
      if (this.paused && e?.persisted) {
        this.paused = false;
        this.connect('reconnecting');
      }
    };
  }

  /** Opens the connection; safe to call once. */
  start() {
    this.stopped = false;
    globalThis.addEventListener?.('online', this.wake);
    globalThis.addEventListener?.('pagehide', this.hide);
    globalThis.addEventListener?.('pageshow', this.show);
    globalThis.document?.addEventListener('visibilitychange', this.wake);
    this.connect('connecting');
  }

  /** Closes the connection for good (page unload, tests). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    globalThis.removeEventListener?.('online', this.wake);
    globalThis.removeEventListener?.('pagehide', this.hide);
    globalThis.removeEventListener?.('pageshow', this.show);
    globalThis.document?.removeEventListener('visibilitychange', this.wake);
    if (this.ws) this.ws.close(1000, 'bye');
    this.setState('closed');
  }

  /** Skips the remaining backoff and reconnects at once. */
  connectNow() {
    clearTimeout(this.timer);
    this.connect('reconnecting');
  }

  setState(state) {
    this.state = state;
    this.onstate(state, { attempt: this.attempt, retryInMs: Math.max(0, this.retryAt - Date.now()) });
  }

  connect(state) {
    if (this.stopped || this.paused) return;
    this.setState(state);
    let ws;
    try {
      ws = new this.WebSocketImpl(socketURL(this.room, globalThis.location, this.params(this)));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.setState('open');
      // Only a connection that stays up resets the backoff: a server that
      // accepts and drops at once must not be hammered.
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => {
        this.attempt = 0;
      }, 5000);
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return; // not ours to crash on
      }
      if (!msg || typeof msg.type !== 'string') return;
      if (typeof msg.seq === 'number') this.lastSeq = msg.seq;
      this.onmessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.stableTimer);
      if (!this.stopped) this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  scheduleReconnect() {
    const delay = backoffDelay(this.attempt++);
    this.retryAt = Date.now() + delay;
    this.setState('reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect('reconnecting'), delay);
  }
}
