/* The widget's entry: the `parley` API, the chat state, page views, boot.
   The gateway serves lib/logic.js, lib/store.js, lib/conn.js, lib/ui.js and this file
   as one script (/widget.js) wrapped in a function; nothing here runs at build time. */

var MAX_OUTBOX = 50;
var MAX_EVENTS = 100;
var TYPING_EVERY_MS = 3000;
var TYPING_IDLE_MS = 4000;
var AGENT_TYPING_MS = 30000;
var ACCEPT_WITHIN_MS = 10000;
var CLOCK_TICK_MS = 30000; // relative times ("2 min") move on

function Widget(config) {
  this.config = config;
  this.grant = config.continueToken || null; // a continue link: that one conversation only
  this.store = makeStore(window, !!this.grant);
  this.timeline = new Timeline();
  this.listeners = { message: [], unread: [], ready: [], error: [] };
  this.isReady = false;
  this.open = false;
  this.presence = { online_agents: null, agents: [] };
  this.agentReadSeq = 0;
  this.limits = { max_text: 4000, email_prompt_after: 60 };
  this.events = []; // identify/alias/track/page frames not yet acknowledged
  this.typingSentAt = 0;
  this.lastHref = null;
  this.promptTimer = null;
  this.status = null;
  this.browserLanguages = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  this.words = new Words(chooseLanguage(this.browserLanguages));
  var self = this;
  this.ui = new UI(WIDGET_CSS, {
    toggle: function () { self.setOpen(!self.open); },
    close: function () { self.setOpen(false); },
    send: function (text) { return self.send(text); },
    retry: function (id) { self.retry(id); },
    typing: function (text) { self.typing(text); },
    email: function (value) { self.giveEmail(value); },
    changeEmail: function () { self.changeEmail(); },
    openConversation: function (id) { self.conn.send({ type: "open", conversation_id: id }); },
  }, this.words);
  this.csat = new Csat(this.words, {
    rate: function (score, comment) { return self.rate(score, comment); },
    restart: function () { self.newConversation(); },
  });
  this.ui.tail = this.csat.box;
  this.loadCatalogue(this.words.lang);
  setInterval(function () { if (self.open) self.ui.render(self.timeline.items, self.agentReadSeq); }, CLOCK_TICK_MS);
  (this.store.get("outbox") || []).forEach(function (m) {
    self.timeline.addPending(m.client_msg_id, m.text, m.created_at);
  });
  this.conn = new Connection({
    url: config.host.replace(/^http/, "ws") + "/v1/widget/ws?key=" + encodeURIComponent(config.writeKey),
    hello: function () {
      var last = self.timeline.lastSeq();
      // on another of the member's conversations: catch up by opening it again (below)
      var hello = { type: "hello", token: self.store.get("token") || null, last_seq: (!self.openedId && last) || null, page: pageInfo() };
      if (self.grant) hello.continue_token = self.grant;
      return hello;
    },
    onFrame: function (frame) { self.onFrame(frame); },
    onState: function (state) { self.ui.setState(state); },
  });
  this.render();
  if (this.store.get("open") || this.grant) this.setOpen(true, true);
  this.conn.start();
}

/* --- frames from the gateway ------------------------------------------------------- */
Widget.prototype.onFrame = function (f) {
  var self = this;
  switch (f.type) {
    case "welcome":
      this.contactKnown = false; // no email prompt before the gateway says what it knows
      this.applyLook(f.look);
      if (f.grant) this.ui.setInfo(this.words.t("back"));
      else if (f.visitor_id !== this.store.get("visitor_id")) this.forgetChat(true);
      this.store.set("token", f.token);
      this.started = this.store.get("started"); // the last new conversation a tab started
      this.store.set("visitor_id", f.visitor_id);
      this.store.set("distinct_id", f.distinct_id);
      if (f.limits) this.limits = f.limits;
      this.flush();
      if (f.verified) this.conn.send({ type: "conversations" });
      if (!this.isReady) {
        this.isReady = true;
        this.emit("ready", { visitorId: f.visitor_id, distinctId: f.distinct_id });
      }
      break;
    case "history":
      if (this.convId !== undefined && f.conversation_id !== this.convId) {
        // not the conversation on screen (another tab started a new one): start over
        this.forgetChat(true);
        this.convId = f.conversation_id;
        if (f.after_seq != null && f.conversation_id) {
          this.conn.send({ type: "resync" });
          break;
        }
      }
      this.convId = f.conversation_id;
      this.csat.show(f.conversation_id, f.status, f.rating || null);
      (f.messages || []).forEach(function (m) { self.timeline.upsert(m); });
      if (f.visitor_read_seq > (this.store.get("read_seq") || 0)) this.store.set("read_seq", f.visitor_read_seq);
      if (f.agent_read_seq > this.agentReadSeq) this.agentReadSeq = f.agent_read_seq;
      this.setStatus(f.status || "open"); // null: no conversation yet (a new one)
      this.render();
      break;
    case "status":
      if (this.convId === f.conversation_id) this.setStatus(f.status);
      break;
    case "rated":
      if (f.conversation_id === this.csat.id) this.csat.rated(f.rating);
      break;
    case "started": // this tab's new conversation: an empty screen, its key in the token
      this.store.set("token", f.token);
      this.store.set("started", (this.started = f.token));
      this.forgetChat(true);
      this.convId = null;
      this.setStatus("open");
      break;
    case "new_conversation": // another tab's: reconnect with the token it stores (soon)
      if (this.openedId) this.conn.send({ type: "conversations" });
      else this.followTab(0);
      break;
    case "message":
      if (this.convId == null) this.convId = f.message.conversation_id;
      var isNew = this.timeline.upsert(f.message);
      this.dropFromOutbox(f.message.client_msg_id);
      if (this.busyRef && f.message.client_msg_id === this.busyRef) {
        this.busyRef = null;  // the message chat was slow to store has arrived
        this.ui.setNotice("");
      }
      if (f.message.author && f.message.author.kind === "agent") this.ui.setTyping(null);
      this.render();
      if (isNew && f.message.author && f.message.author.kind !== "visitor") this.emit("message", f.message);
      break;
    case "accepted":
      this.timeline.setStatus(f.ref, "sent");
      this.dropFromOutbox(f.ref);
      this.render();
      break;
    case "typing":
      clearTimeout(this.agentTypingTimer);
      this.ui.setTyping(f.typing ? f.agent || {} : null);
      if (f.typing) this.agentTypingTimer = setTimeout(function () { self.ui.setTyping(null); }, AGENT_TYPING_MS);
      break;
    case "read":
      if (f.seq > this.agentReadSeq) this.agentReadSeq = f.seq;
      this.render();
      break;
    case "presence":
      if (f.agents) this.presence = f;
      else this.presence.online_agents = f.online_agents;
      this.ui.setPresence(this.presence);
      this.schedulePrompt();
      break;
    case "busy":
      // chat is behind: the message is saved and will arrive, replies may be slow
      var arrived = this.timeline.items.some(function (it) { return it.id && it.client_msg_id === f.ref; });
      if (arrived) break;  // stored already (the frames crossed)
      this.busyRef = f.ref;
      this.ui.setNotice(this.words.t("busy"));
      break;
    case "ok":
      this.memberEmail(this.ackEvent(f.ref));
      if (f.token) this.store.set("token", f.token);
      if (f.verified) this.conn.send({ type: "conversations" });
      break;
    case "conversations":
      // a verified member's other devices' conversations too (docs/widget.md)
      var list = f.conversations || [];
      this.ui.setConversations(list.length > 1 || (list[0] && !list[0].current) ? list : []);
      break;
    case "opened":
      this.openedId = f.conversation_id;
      this.convId = undefined; // its history says which
      this.timeline = new Timeline(); // its history follows
      this.agentReadSeq = 0;
      this.ui.render([], 0);
      this.conn.send({ type: "conversations" });
      break;
    case "contact":
      this.contactKnown = true;
      if (f.email) this.setEmail(f.email);
      else this.schedulePrompt();
      break;
    case "error":
      this.onError(f);
      break;
  }
};

Widget.prototype.onError = function (f) {
  if (f.code === "link_expired") {
    this.ui.setUnavailableText(this.words.t("expired"));
    return;
  }
  if (f.code === "bad_key" || f.code === "bad_origin") {
    // the site owner's to fix, not the visitor's: one clear line (the socket closes 4001/4003)
    if (window.console) console.error("Parley: " + f.message);
    return;
  }
  if (f.ref === "history") this.contactKnown = true; // no contact frame comes: ask if due
  if (f.ref === "rating") {
    this.csat.failed();
    this.ui.setNotice(this.words.t("rate_failed"));
    return;
  }
  var isEvent = this.ackEvent(f.ref);
  if (isEvent) {
    // e.g. token_refused: "the identity token has expired" (the site's to fix)
    if (window.console) console.warn("parley: " + f.code + ": " + f.message);
    this.emit("error", { code: f.code, message: f.message });
    return;
  }
  if (f.ref && this.timeline.setStatus(f.ref, "failed")) {
    this.render();
    var w = this.words;
    this.ui.setNotice(
      f.code === "rate_limited"
        ? w.t("slow_down", { n: Math.ceil(f.retry_after || 1) })
        : f.code === "too_large" ? w.t("too_long", { n: this.limits.max_text }) : w.t("not_sent_why")
    );
    return;
  }
  if (f.code === "bad_email") this.ui.setNotice(this.words.t("bad_email"));
  else if (f.code === "rate_limited") this.ui.setNotice(this.words.t("slow_down", { n: Math.ceil(f.retry_after || 1) }));
};

/* --- the visitor's messages ---------------------------------------------------------- */
Widget.prototype.send = function (raw) {
  var text = String(raw || "").replace(/\s+$/, "");
  if (!text.trim()) return false;
  if (text.length > this.limits.max_text) {
    this.ui.setNotice(this.words.t("too_long", { n: this.limits.max_text }));
    return false;
  }
  this.ui.setNotice("");
  var id = newId(window.crypto);
  var now = new Date().toISOString();
  this.timeline.addPending(id, text, now);
  var outbox = this.store.get("outbox") || [];
  outbox.push({ client_msg_id: id, text: text, created_at: now });
  this.store.set("outbox", outbox.slice(-MAX_OUTBOX));
  if (hasEmail(text)) this.store.set("email_typed", true); // chat answers with a `contact`
  this.stopTyping();
  this.setStatus("open"); // writing again reopens a resolved conversation
  this.transmit(id, text);
  this.render();
  return true;
};

Widget.prototype.transmit = function (id, text) {
  var self = this;
  if (!this.conn.send({ type: "message", client_msg_id: id, text: text })) return; // sent on reconnect
  setTimeout(function () {
    var item = self.timeline.find({ client_msg_id: id });
    if (item && !item.id && item.status === "sending") {
      item.status = "failed";
      self.render();
    }
  }, ACCEPT_WITHIN_MS);
};

Widget.prototype.retry = function (id) {
  var item = this.timeline.setStatus(id, "sending");
  this.ui.setNotice("");
  if (item) {
    this.transmit(id, item.text);
    this.render();
  }
};

Widget.prototype.dropFromOutbox = function (id) {
  var outbox = this.store.get("outbox") || [];
  var left = outbox.filter(function (m) { return m.client_msg_id !== id; });
  if (left.length !== outbox.length) this.store.set("outbox", left);
};

/* After (re)connecting: queued messages and events go out, same ids as before. */
Widget.prototype.flush = function () {
  var self = this;
  this.timeline.pending().forEach(function (it) {
    if (it.status !== "failed") self.transmit(it.client_msg_id, it.text);
  });
  this.events.forEach(function (frame) { self.conn.send(frame); });
};

Widget.prototype.typing = function (text) {
  var self = this;
  if (!text) return this.stopTyping();
  var now = Date.now();
  if (now - this.typingSentAt > TYPING_EVERY_MS) {
    this.typingSentAt = now;
    this.conn.send({ type: "typing", typing: true });
  }
  clearTimeout(this.typingTimer);
  this.typingTimer = setTimeout(function () { self.stopTyping(); }, TYPING_IDLE_MS);
};

Widget.prototype.stopTyping = function () {
  clearTimeout(this.typingTimer);
  if (this.typingSentAt) {
    this.typingSentAt = 0;
    this.conn.send({ type: "typing", typing: false });
  }
};

/* --- email prompt ---------------------------------------------------------------------- */
Widget.prototype.schedulePrompt = function () {
  var self = this;
  clearTimeout(this.promptTimer);
  if (this.presence.online_agents == null || this.grant || this.changingEmail) return;
  if (!this.contactKnown) return;
  var delay = emailPromptDelay({
    emailGiven: !!(this.store.get("email") || this.store.get("email_typed")),
    agentAnswered: this.timeline.agentAnswered(),
    firstVisitorAt: this.timeline.firstVisitorAt(),
    onlineAgents: this.presence.online_agents,
    afterSeconds: this.limits.email_prompt_after,
    now: Date.now(),
  });
  if (delay === null) return this.ui.showAsk(false);
  this.promptTimer = setTimeout(function () {
    var away = self.presence.online_agents === 0;
    self.ui.showAsk(true, self.words.t(away ? "email_away" : "email_wait"));
  }, delay);
};

Widget.prototype.giveEmail = function (value) {
  var email = String(value || "").trim();
  if (!validEmail(email)) {
    this.ui.setNotice(this.words.t("bad_email"));
    return;
  }
  if (!this.conn.send({ type: "email", client_msg_id: newId(window.crypto), email: email })) {
    this.ui.setNotice(this.words.t("offline_try"));
    return;
  }
  this.ui.setNotice("");
  this.ui.showAsk(false);
  this.setEmail(email); // chat's `contact` frame follows, with the address as stored
};

Widget.prototype.setEmail = function (email) {
  if (typeof email !== "string" || !email) return;
  this.store.set("email", email);
  if (this.changingEmail) this.ui.showAsk(false);
  this.changingEmail = false;
  this.showEmail();
  this.schedulePrompt(); // a prompt already showing goes: the address is known
};

Widget.prototype.changeEmail = function () {
  this.changingEmail = true;
  clearTimeout(this.promptTimer);
  this.showEmail();
  this.ui.askAgain(this.store.get("email"));
};

Widget.prototype.showEmail = function () {
  var view = emailView({
    granted: !!this.grant,
    changing: !!this.changingEmail,
    email: this.store.get("email"),
    visitorWrote: this.timeline.firstVisitorAt() != null,
  });
  this.ui.showConfirm(view === "confirm" ? this.store.get("email") : null);
};

/* A member's identify with an email: that is where we will write (until one is given here). */
Widget.prototype.memberEmail = function (frame) {
  var email = frame && frame.type === "identify" && frame.traits && frame.traits.email;
  if (validEmail(email) && !this.store.get("email")) this.setEmail(String(email).trim());
};

/* --- words, look, status ------------------------------------------------------------ */
/* A shipped language other than English: its catalogue, fetched once (English until then). */
Widget.prototype.loadCatalogue = function (lang) {
  var self = this;
  if (lang === "en" || SHIPPED.indexOf(lang) < 0 || typeof fetch !== "function") return;
  fetch(this.config.host + "/widget/lang/" + lang + ".json", { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (strings) {
      if (!strings || self.words.lang !== lang) return;
      self.words.catalogue = cleanStrings(strings);
      self.relabel();
    })
    .catch(function () {}); // English stays
};

/* The workspace's greeting, colours, side and strings (the welcome frame's `look`). A
   language the workspace added strings for (Arabic, Hebrew) can now be the visitor's. */
Widget.prototype.applyLook = function (look) {
  if (!look || typeof look !== "object") return;
  this.ui.setLook(look);
  var strings = look.strings && typeof look.strings === "object" ? look.strings : {};
  var lang = chooseLanguage(this.browserLanguages, Object.keys(strings));
  if (lang !== this.words.lang) {
    this.words.lang = lang;
    this.words.catalogue = {};
    this.loadCatalogue(lang);
  }
  this.words.defaults = typeof look.greeting === "string" && look.greeting ? { greeting: look.greeting } : {};
  this.words.overrides = cleanStrings(strings[lang]);
  this.relabel();
};

Widget.prototype.relabel = function () {
  this.ui.relabel();
  this.csat.relabel();
  this.render();
};

Widget.prototype.setStatus = function (status) {
  if (typeof status !== "string") return;
  this.status = status;
  this.ui.setResolved(status === "resolved");
  this.csat.show(this.convId, status);
};

/* --- after resolution: the rating, a new conversation (lib/rating.js) ----------------- */
Widget.prototype.rate = function (score, comment) {
  var frame = { type: "rate", message_id: "rating", conversation_id: this.csat.id, score: score, comment: comment };
  if (this.conn.send(frame)) return true;
  this.ui.setNotice(this.words.t("offline_try"));
  return false;
};

/* Reconnect once the tab that started the new conversation has stored its token. */
Widget.prototype.followTab = function (tries) {
  var self = this;
  if (this.store.get("started") !== this.started || tries > 20) this.conn.connectNow();
  else setTimeout(function () { self.followTab(tries + 1); }, 100);
};

Widget.prototype.newConversation = function () {
  if (!this.conn.send({ type: "new_conversation" })) this.ui.setNotice(this.words.t("offline_try"));
};

/* --- open / unread / read receipts ------------------------------------------------ */
Widget.prototype.setOpen = function (open, quiet) {
  this.open = open;
  this.store.set("open", open);
  this.ui.setOpen(open, quiet);
  this.render();
};

Widget.prototype.render = function () {
  var readSeq = this.store.get("read_seq") || 0;
  var last = this.timeline.lastSeq();
  if (this.open && document.visibilityState !== "hidden" && this.timeline.unread(readSeq) > 0) {
    if (this.conn.send({ type: "read", seq: last })) {
      this.store.set("read_seq", last);
      readSeq = last;
    }
  }
  this.ui.render(this.timeline.items, this.agentReadSeq);
  var unread = this.open ? 0 : this.timeline.unread(readSeq);
  this.ui.setBadge(unread);
  this.showEmail();
  if (unread !== this.lastUnread) {
    this.lastUnread = unread;
    this.emit("unread", unread);
  }
  this.schedulePrompt();
};

/* A different visitor (reset, or a token the gateway no longer accepts): start over,
   keeping only messages still on their way when they were written by this person. */
Widget.prototype.forgetChat = function (keepPending) {
  var pending = keepPending ? this.timeline.pending() : [];
  this.timeline = new Timeline();
  pending.forEach(function (it) {
    this.timeline.addPending(it.client_msg_id, it.text, it.created_at);
  }, this);
  this.agentReadSeq = 0;
  this.store.set("read_seq", 0);
  this.store.set("email", null);
  this.store.set("email_typed", false);
  this.changingEmail = false;
  this.ui.showConfirm(null);
  this.ui.render(this.timeline.items, 0);
};

/* --- identity and analytics --------------------------------------------------------- */
Widget.prototype.event = function (frame) {
  if (this.grant) return; // a continue link's socket may not touch the person
  frame.message_id = newId(window.crypto);
  this.events.push(frame);
  if (this.events.length > MAX_EVENTS) this.events.shift();
  this.conn.send(frame);
};

/* The acknowledged event frame (null: not one of ours). */
Widget.prototype.ackEvent = function (ref) {
  for (var i = 0; i < this.events.length; i++) {
    if (this.events[i].message_id === ref) return this.events.splice(i, 1)[0];
  }
  return null;
};

Widget.prototype.trackPageIfMoved = function () {
  if (location.href === this.lastHref) return;
  this.lastHref = location.href;
  var page = pageInfo();
  page.type = "page";
  this.event(page);
};

Widget.prototype.reset = function () {
  this.conn.stop();
  this.store.clear();
  this.events = [];
  this.presence = { online_agents: null, agents: [] };
  clearTimeout(this.promptTimer);
  this.ui.showAsk(false);
  this.ui.setNotice("");
  this.forgetChat();
  this.setOpen(false, true); // the next person on this browser starts from a closed launcher
  this.isReady = false;
  this.lastHref = null;
  this.conn.start();
  this.trackPageIfMoved();
};

Widget.prototype.emit = function (name, value) {
  this.listeners[name].forEach(function (fn) {
    try {
      fn(value);
    } catch (e) {
      if (window.console) console.error(e);
    }
  });
};

function pageInfo() {
  return { url: location.href, path: location.pathname, title: document.title, referrer: document.referrer };
}

function proved(frame, options) {
  // a user_hash, or an identity token (a JWT the site's backend signed): docs/widget.md
  var o = options || {};
  if (typeof o.userHash === "string") frame.user_hash = o.userHash;
  if (typeof o.identityToken === "string") frame.identity_token = o.identityToken;
  return frame;
}

/* --- the public API ------------------------------------------------------------------ */
function makeApi(widget) {
  return {
    __parley: true,
    invoked: true,
    alias: function (userId, options) {
      widget.event(proved({ type: "alias", user_id: String(userId) }, options));
    },
    identify: function (userId, traits, options) {
      widget.event(proved({ type: "identify", user_id: String(userId), traits: traits || {} }, options));
    },
    track: function (event, properties) {
      widget.event({ type: "track", event: String(event), properties: properties || {} });
    },
    page: function () {
      widget.lastHref = location.href;
      var page = pageInfo();
      page.type = "page";
      widget.event(page);
    },
    reset: function () { widget.reset(); },
    open: function () { widget.setOpen(true); },
    close: function () { widget.setOpen(false); },
    on: function (name, fn) {
      if (!widget.listeners[name] || typeof fn !== "function") return;
      widget.listeners[name].push(fn);
      if (name === "ready" && widget.isReady) fn({ visitorId: widget.store.get("visitor_id") });
      if (name === "unread") fn(widget.lastUnread || 0);
    },
  };
}

/* Page views on load and on single-page-app navigation (pushState, replaceState, back). */
function watchNavigation(widget) {
  var check = function () { setTimeout(function () { widget.trackPageIfMoved(); }, 0); };
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      check();
      return result;
    };
  });
  window.addEventListener("popstate", check);
  window.addEventListener("hashchange", check);
}

function configFrom(stub) {
  var cfg = (stub && stub.config) || window.parleySettings || {};
  var script = document.currentScript;
  var host = cfg.host || (script && script.src ? new URL(script.src).origin : "");
  return { host: String(host).replace(/\/+$/, ""), writeKey: cfg.writeKey || "", continueToken: cfg.continueToken || null };
}

function boot() {
  var stub = window.parley;
  if (stub && (stub.__parley || stub.booting)) return; // a second copy: the first one runs
  if (!stub) stub = window.parley = [];
  stub.booting = true;
  var config = configFrom(stub);
  if (!config.writeKey || !config.host) {
    if (window.console) console.warn("parley: missing host or writeKey");
    return;
  }
  var start = function () {
    var widget = new Widget(config);
    var api = makeApi(widget);
    var queued = Array.isArray(stub) ? stub.slice() : [];
    window.parley = api;
    var pageQueued = queued.some(function (call) { return call && call[0] === "page"; });
    if (!pageQueued) widget.trackPageIfMoved();
    replayQueue(queued, api);
    watchNavigation(widget);
    // the tab coming back into view with the panel open reports what it now shows (`read`)
    document.addEventListener("visibilitychange", function () { widget.render(); });
  };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
}

boot();
