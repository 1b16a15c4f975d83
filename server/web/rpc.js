// The connection to the server: JSON-RPC over one WebSocket, reconnected
// with backoff whenever it drops. Protocol: /docs/protocol.md.

/** An error response, or a call that could not be made. */
export class RpcError extends Error {
  constructor(message, kind, data = {}) {
    super(message);
    this.kind = kind;
    this.data = data;
  }
}

// Close reasons after which reconnecting cannot help: the user must sign in.
const SIGNED_OUT = ["token revoked", "account suspended"];
const MAX_BACKOFF_MS = 10_000;
// Calls refused for the rate are sent again this many times, as the
// server asks (`retry_after_ms`).
const RATE_RETRIES = 3;

export class Rpc {
  /**
   * @param {string} url the /v1/ws endpoint
   * @param {object} hooks
   *   onOpen(): async, runs on every (re)connect (sign in, resubscribe);
   *     the state turns "online" once it is done
   *   onNotify(method, params): a server notification
   *   onState(state, detail): "connecting" | "online" | "offline"
   *   onSignedOut(reason): the server revoked this session
   */
  constructor(url, hooks) {
    this.url = url;
    this.hooks = hooks;
    this.socket = null;
    this.pending = new Map();
    this.nextId = 1;
    this.failures = 0;
    this.timer = null;
    addEventListener("online", () => this.reconnectNow());
  }

  start() {
    this.connect();
  }

  /** Skips the rest of the backoff (the "Retry now" button, the network coming back). */
  reconnectNow() {
    if (!this.socket) {
      clearTimeout(this.timer);
      this.connect();
    }
  }

  connect() {
    this.hooks.onState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = async () => {
      try {
        await this.hooks.onOpen();
        this.failures = 0;
        this.hooks.onState("online");
      } catch {
        // The socket dropped while resuming (onclose retries), or the
        // server refused: start again on a new connection.
        socket.close(4000, "resume failed");
      }
    };
    socket.onmessage = (msg) => this.receive(msg.data);
    socket.onclose = (close) => this.closed(socket, close);
  }

  closed(socket, close) {
    if (this.socket !== socket) return;
    this.socket = null;
    for (const { reject } of this.pending.values()) {
      reject(new RpcError("the connection dropped; try again", "offline"));
    }
    this.pending.clear();
    if (close.code === 1008 && SIGNED_OUT.some((r) => close.reason.startsWith(r))) {
      this.hooks.onSignedOut(close.reason);
      this.failures = 0;
    }
    // Exponential backoff with jitter, so a restarted server is not hit by
    // every page at once.
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.failures += 1;
    this.hooks.onState("offline", { retryAt: Date.now() + delay, reason: close.reason });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    for (const m of Array.isArray(message) ? message : [message]) {
      if (m.id === undefined || m.id === null) {
        if (m.method) this.hooks.onNotify(m.method, m.params);
        continue;
      }
      const waiter = this.pending.get(m.id);
      if (!waiter) continue;
      this.pending.delete(m.id);
      if (m.error) {
        const { message: why, data = {} } = m.error;
        waiter.reject(new RpcError(why, data.kind ?? "error", data));
      } else {
        waiter.resolve(m.result);
      }
    }
  }

  /** Sends one request; resolves with its result, rejects with an RpcError. */
  async call(method, params = {}) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.send(method, params);
      } catch (err) {
        if (err.kind !== "rate_limited" || attempt >= RATE_RETRIES) throw err;
        await new Promise((done) => setTimeout(done, err.data.retry_after_ms ?? 1000));
      }
    }
  }

  send(method, params) {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RpcError("not connected to the server: send it again once the page is back online", "offline"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  /** A request without an id: the server answers nothing. */
  notify(method, params) {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ jsonrpc: "2.0", method, params }));
    }
  }
}
