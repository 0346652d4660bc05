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

function UI(css, handlers) {
  this.handlers = handlers;
  this.nodes = {}; // message key -> element
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

UI.prototype.build = function (shadow) {
  var self = this;
  var h = this.handlers;
  var icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", CHAT_ICON);
  icon.appendChild(path);

  this.badge = el("span", { class: "badge", hidden: "" });
  this.launcher = el("button", { class: "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false" }, [icon, this.badge]);
  this.launcher.addEventListener("click", function () {
    h.toggle();
  });

  this.title = el("h2", { id: "parley-title", text: "Chat with us" });
  this.subtitle = el("p", { text: "" });
  this.avatars = el("div", { class: "avatars" });
  var close = el("button", { class: "close", type: "button", "aria-label": "Close chat", text: "\u00d7" });
  close.addEventListener("click", function () {
    h.close();
  });
  this.state = el("div", { class: "state", role: "status" });
  this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
  this.typing = el("div", { class: "typing", "aria-live": "polite" });
  this.notice = el("div", { class: "notice", role: "alert" });
  this.info = el("div", { class: "info", role: "status", hidden: "" });
  this.past = el("nav", { class: "past", "aria-label": "Your conversations", hidden: "" });
  this.unavailable = el("p", { class: "off-msg", hidden: "", text: "Chat isn\u2019t available right now. Please contact us another way." });

  this.email = el("input", { type: "email", "aria-label": "Email", autocomplete: "email", placeholder: "you@example.com" });
  var askForm = el("form", { novalidate: "" }, [this.email, el("button", { class: "primary", type: "submit", text: "Notify me" })]);
  askForm.addEventListener("submit", function (event) {
    event.preventDefault();
    h.email(self.email.value);
  });
  this.askText = el("p", { text: "We'll reply by email. Leave your address:" });
  this.confirmEmail = el("b");
  var change = el("button", { type: "button", text: "change it" });
  change.addEventListener("click", function () {
    h.changeEmail();
  });
  this.confirm = el("p", { class: "confirm", role: "status", hidden: "" }, [
    document.createTextNode("We\u2019ll email you at "),
    this.confirmEmail,
    document.createTextNode(" when we reply \u2014 not you? "),
    change,
  ]);
  this.ask = el("div", { class: "ask", hidden: "" }, [this.askText, askForm]);

  this.input = el("textarea", { "aria-label": "Message", rows: "1", placeholder: "Write a message\u2026" });
  this.sendButton = el("button", { class: "primary", type: "button", text: "Send" });
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
    el("div", { class: "head" }, [this.avatars, el("div", { class: "who" }, [this.title, this.subtitle]), close]),
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
  this.launcher.setAttribute("aria-label", open ? "Hide chat" : "Open chat");
  if (!quiet) (open ? this.input : this.launcher).focus();
  this.scrollDown();
};

UI.prototype.setBadge = function (count) {
  this.badge.hidden = !count;
  this.badge.textContent = count > 99 ? "99+" : String(count);
  this.launcher.setAttribute("aria-label", (this.panel.hidden ? "Open chat" : "Hide chat"));
  if (count) this.badge.setAttribute("aria-label", count + " unread");
};

UI.prototype.setState = function (state) {
  var text = { connecting: "Connecting\u2026", offline: "Offline \u2014 reconnecting\u2026", online: "" }[state];
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
  this.past.appendChild(el("b", { text: "Your conversations" }));
  list.forEach(function (c) {
    var when = c.last_activity_at ? new Date(c.last_activity_at).toLocaleDateString() : "";
    var b = el("button", { type: "button", "data-id": c.id, text: (c.last_message || "Conversation") + (when ? " \u00b7 " + when : "") });
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
  var agents = p.agents || [];
  this.avatars.textContent = "";
  agents.slice(0, 3).forEach(function (a) {
    this.avatars.appendChild(avatar(a));
  }, this);
  this.subtitle.textContent = presenceLine(p);
};

UI.prototype.setTyping = function (agent) {
  this.typing.textContent = agent ? ((agent.name || "Someone") + " is typing\u2026") : "";
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
};

/* The form again, filled in with the address to replace. */
UI.prototype.askAgain = function (email) {
  this.showAsk(true, "Where should we email you?");
  this.email.value = email || "";
  this.email.focus();
};

UI.prototype.scrollDown = function () {
  this.log.scrollTop = this.log.scrollHeight;
};

/* Keyed render: a message's node is made once and updated in place. */
UI.prototype.render = function (items, agentReadSeq) {
  var keep = {};
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
    this.log.appendChild(node.root);
  }
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
  if (it.via === "email") bubble.appendChild(el("span", { class: "via", title: "Sent by email", "aria-label": "Sent by email", text: "\u2709 " }));
  linkify(it.text || "").forEach(function (seg) {
    if (seg.href) {
      bubble.appendChild(el("a", { href: seg.href, target: "_blank", rel: "noopener noreferrer", text: seg.text }));
    } else {
      bubble.appendChild(document.createTextNode(seg.text));
    }
  });
  var by = el("div", { class: "by" }, [avatar(it.author), el("span", { text: it.author.name || "Support" })]);
  var status = el("div", { class: "st" });
  var root = el("div", { class: "m m-" + it.author.kind, "data-seq": it.seq == null ? "" : String(it.seq) }, [by, bubble, status]);
  return { root: root, by: by, status: status, shown: null };
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
    var retry = el("button", { type: "button", text: "Retry" });
    retry.addEventListener("click", function () {
      h.retry(it.client_msg_id);
    });
    node.status.appendChild(document.createTextNode("Not sent. "));
    node.status.appendChild(retry);
  } else {
    node.status.textContent = { sending: "Sending\u2026", sent: "Sent", seen: "Seen" }[label];
  }
};
