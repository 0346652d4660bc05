/* The socket to the gateway: hello on open, reconnect with backoff and jitter, an
   application ping so a dead peer is noticed (browsers hide protocol pings).
   A close code 4000-4099 is a permanent refusal (unknown write key, origin not
   allowed): retrying unchanged cannot help, so it stops in the "refused" state. */

var PING_EVERY_MS = 25000;
var PONG_WITHIN_MS = 10000;

function Connection(opts) {
  this.url = opts.url;
  this.hello = opts.hello; // () => hello frame
  this.onFrame = opts.onFrame;
  this.onState = opts.onState; // "connecting" | "online" | "offline" | "refused"
  this.ws = null;
  this.ready = false;
  this.attempt = 0;
  this.stopped = true;
  this.timer = null;
  this.pingTimer = null;
  this.lastHeard = 0;
  var self = this;
  this.wake = function () {
    // back online or visible again while waiting out a backoff: try at once
    if (!self.stopped && !self.ws && document.visibilityState !== "hidden") self.connectNow();
  };
}

Connection.prototype.start = function () {
  this.stopped = false;
  window.addEventListener("online", this.wake);
  document.addEventListener("visibilitychange", this.wake);
  this.connectNow();
};

Connection.prototype.stop = function () {
  this.stopped = true;
  window.removeEventListener("online", this.wake);
  document.removeEventListener("visibilitychange", this.wake);
  clearTimeout(this.timer);
  this.drop();
};

Connection.prototype.drop = function () {
  clearInterval(this.pingTimer);
  this.ready = false;
  if (this.ws) {
    var ws = this.ws;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch (e) {
      /* already closed */
    }
  }
};

Connection.prototype.connectNow = function () {
  clearTimeout(this.timer);
  this.drop();
  if (this.stopped) return;
  this.onState("connecting");
  var self = this;
  var ws;
  try {
    ws = new WebSocket(this.url);
  } catch (e) {
    this.retry();
    return;
  }
  this.ws = ws;
  ws.onopen = function () {
    ws.send(JSON.stringify(self.hello()));
  };
  ws.onmessage = function (event) {
    var frame;
    try {
      frame = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    self.lastHeard = Date.now();
    if (frame.type === "welcome") {
      self.ready = true;
      self.attempt = 0;
      self.startPings();
      self.onState("online");
    }
    self.onFrame(frame);
  };
  ws.onclose = function (event) {
    if (self.ws !== ws) return;
    self.ws = null;
    self.ready = false;
    clearInterval(self.pingTimer);
    if (isRefusal(event.code)) {
      self.stop();
      self.onState("refused");
      return;
    }
    self.retry();
  };
};

Connection.prototype.retry = function () {
  if (this.stopped) return;
  this.onState("offline");
  var self = this;
  this.timer = setTimeout(function () {
    self.connectNow();
  }, backoffDelay(this.attempt++));
};

Connection.prototype.startPings = function () {
  var self = this;
  clearInterval(this.pingTimer);
  this.pingTimer = setInterval(function () {
    if (Date.now() - self.lastHeard > PING_EVERY_MS + PONG_WITHIN_MS) {
      self.drop(); // nothing heard, not even a pong: the peer is gone
      self.retry();
      return;
    }
    self.send({ type: "ping" });
  }, PING_EVERY_MS);
};

/* true when the frame left; false means offline (the caller keeps it queued). */
Connection.prototype.send = function (frame) {
  if (!this.ready || !this.ws || this.ws.readyState !== 1) return false;
  this.ws.send(JSON.stringify(frame));
  return true;
};
