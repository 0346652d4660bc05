/* The widget's DOM, inside an open shadow root so the host page's CSS cannot reach it.
   Everything a person or the server wrote goes in through textContent only. */

var CHAT_ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";

function el(tag, attrs, children) {
  var node = document.createElement(tag);
  for (var name in attrs || {}) {
    if (name === "text") node.textContent = attrs[name];
    else if (name === "class") node.className = attrs[name];
    else node.setAttribute(name, attrs[name]);
  }
  (children || []).forEach(function (child) {
    if (child) node.appendChild(child);
  });
  return node;
}

function avatar(person) {
  var box = el("span", { class: "av", "aria-hidden": "true" });
  var src = person && safeHref(person.avatar);
  if (src) box.appendChild(el("img", { src: src, alt: "", referrerpolicy: "no-referrer" }));
  else box.textContent = ((person && person.name) || "?").trim().charAt(0).toUpperCase() || "?";
  return box;
}

function UI(css, handlers, words) {
  this.handlers = handlers;
  this.words = words;
  this.labels = []; // [node, attribute or "text", key]: set again when the words change
  this.nodes = {}; // message key -> element
  this.presence = { online_agents: null, agents: [] };
  this.connState = "connecting";
  var host = el("div", { id: "parley-widget" });
  var shadow = host.attachShadow({ mode: "open" });
  if (shadow.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
    try {
      var sheet = new CSSStyleSheet(); // not subject to the host's style-src CSP
      sheet.replaceSync(css);
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) {
      shadow.appendChild(el("style", { text: css }));
    }
  } else {
    shadow.appendChild(el("style", { text: css }));
  }
  this.build(shadow);
  document.body.appendChild(host);
}

/* `node`'s attribute (or its text) from the words, now and whenever they change. */
UI.prototype.label = function (node, attr, key) {
  this.labels.push([node, attr, key]);
  if (attr === "text") node.textContent = this.words.t(key);
  else node.setAttribute(attr, this.words.t(key));
  return node;
};

UI.prototype.t = function (key, vars) {
  return this.words.t(key, vars);
};

UI.prototype.build = function (shadow) {
  var self = this;
  var h = this.handlers;
  var L = function (node, attr, key) { return self.label(node, attr, key); };
  var icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", CHAT_ICON);
  icon.appendChild(path);

  this.badge = el("span", { class: "badge", hidden: "" });
  this.launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false" }, [icon, this.badge]);
  this.launcher.addEventListener("click", function () {
    h.toggle();
  });

  this.title = L(el("h2", { id: "parley-title" }), "text", "title");
  this.subtitle = el("p", { text: "" });
  this.replies = el("div", { class: "replies", hidden: "" });
  this.avatars = el("div", { class: "avatars" });
  var close = L(el("button", { class: "close", type: "button", text: "\u00d7" }), "aria-label", "close");
  close.addEventListener("click", function () {
    h.close();
  });
  this.state = el("div", { class: "state", role: "status" });
  this.log = L(el("div", { class: "log", role: "log", "aria-live": "polite", tabindex: "0" }), "aria-label", "log_label");
  this.greeting = el("div", { class: "greet" }, [el("div", { class: "gb" })]);
  this.resolved = el("div", { class: "note", role: "status", hidden: "" });
  this.typing = el("div", { class: "typing", "aria-live": "polite" });
  this.notice = el("div", { class: "notice", role: "alert" });
  this.info = el("div", { class: "info", role: "status", hidden: "" });
  this.past = L(el("nav", { class: "past", hidden: "" }), "aria-label", "your_conversations");
  this.unavailable = el("p", { class: "off-msg", hidden: "", text: "Chat isn\u2019t available right now. Please contact us another way." });
  this.unavailable = L(el("p", { class: "off-msg", hidden: "" }), "text", "unavailable");

  this.email = L(el("input", { type: "email", autocomplete: "email", placeholder: "you@example.com" }), "aria-label", "email_label");
  var askForm = el("form", { novalidate: "" }, [this.email, L(el("button", { class: "primary", type: "submit" }), "text", "notify")]);
  askForm.addEventListener("submit", function (event) {
    event.preventDefault();
    h.email(self.email.value);
  });
  this.askText = el("p", { text: this.t("email_ask") });
  this.confirmEmail = el("b");
  this.change = L(el("button", { type: "button" }), "text", "email_change");
  this.change.addEventListener("click", function () {
    h.changeEmail();
  });
  this.confirm = el("p", { class: "confirm", role: "status", hidden: "" });
  this.ask = el("div", { class: "ask", hidden: "" }, [this.askText, askForm]);

  this.input = L(L(el("textarea", { rows: "1" }), "aria-label", "message_label"), "placeholder", "placeholder");
  this.sendButton = L(el("button", { class: "primary", type: "button" }), "text", "send");
  this.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      self.submit();
    }
  });
  this.input.addEventListener("input", function () {
    h.typing(self.input.value);
  });
  this.sendButton.addEventListener("click", function () {
    self.submit();
  });

  this.panel = el("div", { class: "panel", role: "dialog", "aria-labelledby": "parley-title", hidden: "" }, [
    el("div", { class: "head" }, [this.avatars, el("div", { class: "who" }, [this.title, this.subtitle, this.replies]), close]),
    this.state,
    this.unavailable,
    this.info,
    this.past,
    this.log,
    this.typing,
    this.notice,
    this.confirm,
    this.ask,
    el("div", { class: "compose" }, [this.input, this.sendButton]),
  ]);
  this.panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") h.close();
  });
  this.root = el("div", { class: "root" }, [this.panel, this.launcher]);
  shadow.appendChild(this.root);
  this.root.setAttribute("lang", this.words.lang);
  this.root.setAttribute("dir", isRtl(this.words.lang) ? "rtl" : "ltr");
  this.setGreeting();
  this.setOpenLabel();
};

/* The words changed (a catalogue arrived, the workspace's strings came): every label,
   and every line made of words, again. */
UI.prototype.relabel = function () {
  this.labels.forEach(function (l) {
    if (l[1] === "text") l[0].textContent = this.t(l[2]);
    else l[0].setAttribute(l[1], this.t(l[2]));
  }, this);
  var lang = this.words.lang;
  this.root.setAttribute("lang", lang);
  this.root.setAttribute("dir", isRtl(lang) ? "rtl" : "ltr");
  this.setGreeting();
  this.setPresence(this.presence);
  this.setState(this.connState);
  this.setOpenLabel();
  this.showConfirm(this.confirmEmail.textContent || null);
  for (var k in this.nodes) {
    this.nodes[k].shown = null; // statuses in the new words at the next render
    this.nodes[k].name.textContent = this.nodes[k].author.name || this.t("support");
  }
  this.resolved.textContent = this.t("resolved");
};

UI.prototype.setGreeting = function () {
  this.greeting.firstChild.textContent = this.t("greeting");
};

/* Launcher colour (text colour chosen for contrast by the gateway) and side. */
UI.prototype.setLook = function (look) {
  if (!look) return;
  if (/^#[0-9a-fA-F]{6}$/.test(look.color || "")) this.root.style.setProperty("--accent", look.color);
  if (/^#[0-9a-fA-F]{6}$/.test(look.text_color || "")) this.root.style.setProperty("--on-accent", look.text_color);
  this.root.classList.toggle("left", look.position === "left");
};

UI.prototype.setResolved = function (resolved) {
  this.resolved.textContent = this.t("resolved");
  this.resolved.hidden = !resolved;
};

UI.prototype.submit = function () {
  if (this.handlers.send(this.input.value)) {
    this.input.value = "";
  }
  this.input.focus();
};

/* `quiet` (restoring the panel on a new page, reset) leaves the host page's focus alone. */
UI.prototype.setOpen = function (open, quiet) {
  this.panel.hidden = !open;
  this.root.classList.toggle("open", open);
  this.launcher.setAttribute("aria-expanded", String(open));
  this.setOpenLabel();
  if (!quiet) (open ? this.input : this.launcher).focus();
  this.scrollDown();
};

UI.prototype.setBadge = function (count) {
  this.badge.hidden = !count;
  this.badge.textContent = count > 99 ? "99+" : String(count);
  this.setOpenLabel();
  if (count) this.badge.setAttribute("aria-label", this.t("unread", { n: count }));
};

UI.prototype.setOpenLabel = function () {
  this.launcher.setAttribute("aria-label", this.t(this.panel.hidden ? "open" : "hide"));
};

UI.prototype.setState = function (state) {
  this.connState = state;
  var text = state === "connecting" || state === "offline" ? this.t(state) : "";
  this.state.textContent = text || "";
  this.state.hidden = !text;
  this.setUnavailable(state === "refused");
};

/* The gateway refused this page for good (its console says why): say so calmly. */
UI.prototype.setUnavailable = function (off) {
  this.root.classList.toggle("off", off);
  this.input.disabled = this.sendButton.disabled = off;
  this.unavailable.hidden = !off;
};

UI.prototype.setUnavailableText = function (text) {
  this.unavailable.textContent = text;
};

/* A verified member's conversations (every device's): one button each; none: hidden. */
UI.prototype.setConversations = function (list) {
  var h = this.handlers;
  this.past.textContent = "";
  this.past.hidden = !list.length;
  if (!list.length) return;
  this.past.appendChild(el("b", { text: this.t("your_conversations") }));
  list.forEach(function (c) {
    var when = c.last_activity_at ? new Date(c.last_activity_at).toLocaleDateString() : "";
    var b = el("button", { type: "button", "data-id": c.id, text: (c.last_message || this.t("a_conversation")) + (when ? " \u00b7 " + when : "") });
    if (c.current) b.setAttribute("aria-current", "true");
    b.addEventListener("click", function () {
      h.openConversation(c.id);
    });
    this.past.appendChild(b);
  }, this);
};

UI.prototype.setInfo = function (text) {
  this.info.textContent = text || "";
  this.info.hidden = !text;
};

UI.prototype.setPresence = function (p) {
  this.presence = p;
  var agents = p.agents || [];
  this.avatars.textContent = "";
  agents.slice(0, 3).forEach(function (a) {
    this.avatars.appendChild(avatar(a));
  }, this);
  if (p.online_agents == null) return;
  this.subtitle.textContent = presenceLine(p, this.words);
  var away = !p.online_agents || p.open === false;
  var replies = away ? "" : replyLine(p.reply_minutes, this.words);
  this.replies.textContent = replies;
  this.replies.hidden = !replies;
};

UI.prototype.setTyping = function (agent) {
  this.typing.textContent = agent ? this.t("typing", { name: agent.name || this.t("someone") }) : "";
};

UI.prototype.setNotice = function (text) {
  this.notice.textContent = text || "";
  this.notice.hidden = !text;
};

UI.prototype.showAsk = function (show, text) {
  this.ask.hidden = !show;
  if (text) this.askText.textContent = text;
};

/* "We'll email you at <email> when we reply — not you? change it", or nothing (null). */
UI.prototype.showConfirm = function (email) {
  this.confirm.hidden = !email;
  this.confirmEmail.textContent = email || "";
  if (!email) return;
  var parts = this.t("email_confirm").split("{email}");
  this.confirm.textContent = "";
  this.confirm.appendChild(document.createTextNode(parts[0]));
  if (parts.length > 1) {
    this.confirm.appendChild(this.confirmEmail);
    this.confirm.appendChild(document.createTextNode(parts.slice(1).join("") + " "));
  }
  this.confirm.appendChild(this.change);
};

/* The form again, filled in with the address to replace. */
UI.prototype.askAgain = function (email) {
  this.showAsk(true, this.t("email_where"));
  this.email.value = email || "";
  this.email.focus();
};

UI.prototype.scrollDown = function () {
  this.log.scrollTop = this.log.scrollHeight;
};

/* Keyed render: a message's node is made once and updated in place. */
UI.prototype.render = function (items, agentReadSeq) {
  var keep = {};
  var now = Date.now();
  this.log.appendChild(this.greeting);
  var lastVisitorSeen = null;
  var prevAuthor = null;
  items.forEach(function (it) {
    if (it.author.kind === "visitor" && it.seq != null && it.seq <= agentReadSeq) lastVisitorSeen = it;
  });
  var atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
  for (var i = 0; i < items.length; i++) {
    var it = items[i];
    var key = it.client_msg_id && it.author.kind === "visitor" ? "c:" + it.client_msg_id : "i:" + it.id;
    keep[key] = true;
    var node = this.nodes[key] || this.messageNode(it);
    this.nodes[key] = node;
    var authorKey = it.author.kind + ":" + (it.author.name || "");
    node.by.hidden = it.author.kind !== "agent" || authorKey === prevAuthor;
    prevAuthor = authorKey;
    this.updateStatus(node, it, it === lastVisitorSeen);
    this.updateTime(node, it, now);
    this.log.appendChild(node.root);
  }
  this.log.appendChild(this.resolved);
  if (this.tail) this.log.appendChild(this.tail); // the rating and "new conversation" (rating.js)
  for (var k in this.nodes) {
    if (!keep[k]) {
      this.nodes[k].root.remove();
      delete this.nodes[k];
    }
  }
  if (atBottom) this.scrollDown();
};

UI.prototype.messageNode = function (it) {
  var bubble = el("div", { class: "b" });
  if (it.via === "email") bubble.appendChild(el("span", { class: "via", title: this.t("via_email"), "aria-label": this.t("via_email"), text: "\u2709 " }));
  linkify(it.text || "").forEach(function (seg) {
    if (seg.href) {
      bubble.appendChild(el("a", { href: seg.href, target: "_blank", rel: "noopener noreferrer", text: seg.text }));
    } else {
      bubble.appendChild(document.createTextNode(seg.text));
    }
  });
  var name = el("span", { text: it.author.name || this.t("support") });
  var by = el("div", { class: "by" }, [avatar(it.author), name]);
  var time = el("time", { class: "ts" });
  var status = el("div", { class: "st" });
  var meta = el("div", { class: "meta" }, [time, status]);
  var root = el("div", { class: "m m-" + it.author.kind, "data-seq": it.seq == null ? "" : String(it.seq) }, [by, bubble, meta]);
  return { root: root, by: by, name: name, author: it.author, time: time, status: status, shown: null };
};

/* "2 min", with the full date and time on hover (title) and for machines (datetime). */
UI.prototype.updateTime = function (node, it, now) {
  var at = it.created_at;
  node.time.textContent = relativeTime(at, now, this.words);
  if (!at || isNaN(Date.parse(at))) return;
  if (node.time.getAttribute("datetime") !== at) {
    node.time.setAttribute("datetime", at);
    node.time.title = new Date(at).toLocaleString(this.words.lang);
  }
};

UI.prototype.updateStatus = function (node, it, seen) {
  if (it.seq != null) node.root.setAttribute("data-seq", String(it.seq));
  if (it.author.kind !== "visitor") {
    node.status.hidden = true;
    return;
  }
  var label = it.status === "failed" ? "failed" : it.status === "sending" ? "sending" : seen ? "seen" : "sent";
  if (node.shown === label) return;
  node.shown = label;
  node.root.classList.toggle("failed", label === "failed");
  node.status.textContent = "";
  node.status.hidden = false;
  if (label === "failed") {
    var h = this.handlers;
    var retry = el("button", { type: "button", text: this.t("retry") });
    retry.addEventListener("click", function () {
      h.retry(it.client_msg_id);
    });
    node.status.appendChild(document.createTextNode(this.t("not_sent") + " "));
    node.status.appendChild(retry);
  } else {
    node.status.textContent = this.t(label);
  }
};
