/* Pure logic of the widget: no DOM, no network, so `node --test widget/test/` covers it. */

var BACKOFF_BASE_MS = 500;
var BACKOFF_CAP_MS = 15000;
var ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/* Exponential backoff with jitter: attempt 0 waits 250-500 ms, then doubling up to 15 s.
   The jitter spreads reconnects so a restarted gateway is not hit by every tab at once. */
function backoffDelay(attempt, random) {
  var r = typeof random === "function" ? random() : Math.random();
  var ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, Math.max(0, attempt)));
  var floor = ceiling / 2;
  return Math.round(floor + r * (ceiling - floor));
}

/* A random id of 22 url-safe characters (client message ids, event message ids). */
/* Close codes the gateway uses for a refusal that a reconnect cannot fix. */
function isRefusal(closeCode) {
  return closeCode >= 4000 && closeCode < 4100;
}

function newId(cryptoObj) {
  var bytes = new Uint8Array(22);
  if (cryptoObj && cryptoObj.getRandomValues) cryptoObj.getRandomValues(bytes);
  else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  var out = "";
  for (var j = 0; j < bytes.length; j++) out += ID_CHARS[bytes[j] & 63];
  return out;
}

/* Only http(s) URLs become links or images; anything else (javascript:, data:) stays text. */
function safeHref(raw) {
  if (typeof raw !== "string" || !/^https?:\/\//i.test(raw)) return null;
  try {
    var url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

/* Split text into plain and link segments; the caller renders both with textContent. */
function linkify(text) {
  var out = [];
  var re = /https?:\/\/[^\s<>"']+/gi;
  var last = 0;
  var match;
  while ((match = re.exec(text)) !== null) {
    var raw = match[0].replace(/[.,;:!?)\]]+$/, "");
    var href = safeHref(raw);
    if (!href) continue;
    if (match.index > last) out.push({ text: text.slice(last, match.index) });
    out.push({ text: raw, href: href });
    last = match.index + raw.length;
    re.lastIndex = last;
  }
  if (last < text.length) out.push({ text: text.slice(last) });
  return out;
}

var EMAIL_RE = /^[^\s@<>()",;]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
var EMAIL_IN_TEXT = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;

function validEmail(value) {
  var email = String(value || "").trim();
  return email.length <= 254 && EMAIL_RE.test(email);
}

function hasEmail(text) {
  return EMAIL_IN_TEXT.test(String(text || ""));
}

/* The conversation as the visitor sees it: server messages ordered by seq, then the
   visitor's own messages still on their way, in the order they were written. Server
   frames may repeat (resync, live and history overlapping): merge by id, then by the
   client message id of a pending message. */
function Timeline() {
  this.items = [];
}

Timeline.prototype.find = function (msg) {
  for (var i = 0; i < this.items.length; i++) {
    var it = this.items[i];
    if (msg.id && it.id === msg.id) return it;
    if (!it.id && msg.client_msg_id && it.client_msg_id === msg.client_msg_id) return it;
  }
  return null;
};

/* A message from the server; returns true when it was not seen before. */
Timeline.prototype.upsert = function (msg) {
  var found = this.find(msg);
  var item = found || {};
  item.id = msg.id;
  item.seq = msg.seq;
  item.client_msg_id = msg.client_msg_id;
  item.author = msg.author || { kind: "system" };
  item.text = msg.text;
  item.created_at = msg.created_at;
  item.via = msg.via || null;
  item.status = "sent";
  if (!found) this.items.push(item);
  this.sort();
  return !found;
};

/* The visitor's own message before the server has it. */
Timeline.prototype.addPending = function (clientMsgId, text, now) {
  var item = {
    id: null,
    seq: null,
    client_msg_id: clientMsgId,
    author: { kind: "visitor" },
    text: text,
    created_at: now,
    status: "sending",
  };
  this.items.push(item);
  return item;
};

Timeline.prototype.setStatus = function (clientMsgId, status) {
  for (var i = 0; i < this.items.length; i++) {
    var it = this.items[i];
    if (!it.id && it.client_msg_id === clientMsgId) {
      it.status = status;
      return it;
    }
  }
  return null;
};

Timeline.prototype.pending = function () {
  return this.items.filter(function (it) {
    return !it.id;
  });
};

Timeline.prototype.sort = function () {
  var order = 0;
  this.items.forEach(function (it) {
    it._order = it._order === undefined ? order++ : it._order;
  });
  this.items.sort(function (a, b) {
    if (a.seq != null && b.seq != null) return a.seq - b.seq;
    if (a.seq != null) return -1;
    if (b.seq != null) return 1;
    return a._order - b._order;
  });
};

Timeline.prototype.lastSeq = function () {
  var max = 0;
  this.items.forEach(function (it) {
    if (it.seq > max) max = it.seq;
  });
  return max;
};

Timeline.prototype.unread = function (readSeq) {
  return this.items.filter(function (it) {
    return it.seq > readSeq && it.author.kind === "agent";
  }).length;
};

Timeline.prototype.agentAnswered = function () {
  return this.items.some(function (it) {
    return it.author.kind === "agent";
  });
};

Timeline.prototype.firstVisitorAt = function () {
  for (var i = 0; i < this.items.length; i++) {
    if (this.items[i].author.kind === "visitor") return this.items[i].created_at;
  }
  return null;
};

/* When to ask for an email: null (never), 0 (now) or a delay in ms.
   Ask when nobody answered within `afterSeconds` of the visitor's first message, or
   right away when no agent is online. An email already given (or typed) ends it. */
function emailPromptDelay(s) {
  if (s.emailGiven || s.agentAnswered || s.firstVisitorAt == null) return null;
  if (s.onlineAgents === 0) return 0;
  var due = new Date(s.firstVisitorAt).getTime() + s.afterSeconds * 1000;
  return Math.max(0, due - s.now);
}

/* What the panel says about email: "change" (the form, the visitor replaces the address),
   "confirm" ("We'll email you at ..." once they have written), or null (nothing; the
   prompt keeps its own timing). A continue link's panel never speaks of it. */
function emailView(s) {
  if (s.granted) return null;
  if (s.changing) return "change";
  return s.email && s.visitorWrote ? "confirm" : null;
}

/* The header's line from a presence frame: who is online, or the away message when
   nobody is (chat already counts nobody outside business hours; `open` says so too). */
/* `words`: the widget's Words (lib/i18n.js); the away line is the language's override,
   else the workspace's away message as presence carries it, else the catalogue's. */
function presenceLine(p, words) {
  if (!p.online_agents || p.open === false) {
    var own = words.overrides.away || (words.lang === "en" || !words.catalogue.away ? p.away_message : null);
    return own || words.t("away");
  }
  var names = (p.agents || []).map(function (a) { return a.name; }).filter(Boolean).slice(0, 2);
  if (!names.length) return words.t("online");
  return words.t(p.online_agents > 1 ? "online_many" : "online_one", { names: names.join(" & ") });
}

/* Replay calls queued by the loader stub: [["identify", "u1", {...}], ["open"], ...]. */
function replayQueue(queue, api) {
  var errors = [];
  for (var i = 0; i < queue.length; i++) {
    var call = queue[i];
    if (!call || typeof api[call[0]] !== "function") continue;
    try {
      api[call[0]].apply(api, Array.prototype.slice.call(call, 1));
    } catch (e) {
      errors.push(e);
    }
  }
  return errors;
}

if (typeof module === "object" && module && module.exports) {
  module.exports = {
    backoffDelay: backoffDelay,
    newId: newId,
    safeHref: safeHref,
    linkify: linkify,
    validEmail: validEmail,
    hasEmail: hasEmail,
    Timeline: Timeline,
    emailPromptDelay: emailPromptDelay,
    emailView: emailView,
    presenceLine: presenceLine,
    replayQueue: replayQueue,
    isRefusal: isRefusal,
  };
}
