/* Parley dashboard: the live parts (agent socket, inbox rows, thread, sidebar).
 * Everything a visitor typed goes into the page through textContent only. */
(function () {
  "use strict";

  var main = document.querySelector("main[data-agent-id]");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var me = main ? main.dataset.agentId : null;
  // the agent's own zone (Your profile); every time this script writes is shown in it
  var zone = (main && main.dataset.timeZone) || "UTC";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    var s = (Date.now() - t) / 1000;
    if (s < 45) return "just now";
    if (s < 3600) return Math.max(1, Math.round(s / 60)) + "m";
    if (s < 86400) return Math.round(s / 3600) + "h";
    if (s < 7 * 86400) return Math.round(s / 86400) + "d";
    return dateIn(t, { day: "2-digit", month: "short", year: "numeric" });
  }

  function dateIn(t, fields) {
    try {
      return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone }, fields)).format(new Date(t));
    } catch (e) { return new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC"; }
  }

  /* "02 Dec 2026, 14:05 GMT+1": the server's `when` filter, in the agent's zone. */
  function when(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    return dateIn(t, { day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
  }

  /* Live rows are rendered once for every agent (in UTC): their tooltips are redone here. */
  function zoneTitles(root) {
    root.querySelectorAll("time[datetime][title]").forEach(function (t) {
      if (t.dateTime) t.title = when(t.dateTime);
    });
  }

  function initials(text) {
    var words = String(text || "").replace(/[@.]/g, " ").split(/\s+/);
    var letters = words.map(function (w) { var m = w.match(/[\p{L}\p{N}]/u); return m ? m[0] : ""; });
    return (letters.join("").slice(0, 2) || "?").toUpperCase();
  }

  var STAGES = { visitor: "Visitor", contact: "Contact", member: "Member" };
  function setBadge(badge, stage) {
    stage = STAGES[stage] ? stage : "visitor";
    badge.className = "badge badge-" + stage;
    badge.textContent = STAGES[stage];
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; getRandomValues works over plain http too
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function api(method, url, body) {
    var options = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      if (response.status === 401) { location.href = "/"; throw new Error("signed out"); }
      if (!response.ok) {
        return response.text().then(function (text) {
          var message = text;
          try { message = JSON.parse(text).message || text; } catch (e) { /* plain text */ }
          throw new Error(message || ("HTTP " + response.status));
        });
      }
      var type = response.headers.get("Content-Type") || "";
      return type.indexOf("json") >= 0 ? response.json() : response.text();
    });
  }

  /* ---- the agent socket: reconnect with backoff, resync on every (re)connect ---- */
  var handlers = [];
  var live = { socket: null, attempt: 0, send: function (frame) {
    if (live.socket && live.socket.readyState === 1) live.socket.send(JSON.stringify(frame));
  } };
  window.parleyLive = live;
  // another script's handler of the agent socket's frames (notify.js)
  live.listen = function (handler) { handlers.push(handler); };

  function setStatus(state) {
    var dot = document.getElementById("live-status");
    if (!dot) return;
    dot.dataset.state = state;
    var label = { live: "Live updates: connected", offline: "Live updates: reconnecting", connecting: "Live updates: connecting" }[state];
    dot.title = label;
    dot.setAttribute("aria-label", label);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var socket = new WebSocket(scheme + "//" + location.host + "/ws?csrf=" + encodeURIComponent(csrf));
    live.socket = socket;
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (!frame || typeof frame !== "object") return;
      if (frame.type === "hello") {
        live.attempt = 0;
        setStatus("live");
        handlers.forEach(function (h) { if (h.resync) h.resync(); });
        return;
      }
      handlers.forEach(function (h) { h.frame(frame); });
    };
    socket.onclose = function (event) {
      setStatus("offline");
      if (event.code === 1008) { location.href = "/"; return; } // signed out or disabled
      var delay = Math.min(15000, 500 * Math.pow(2, live.attempt++));
      setTimeout(connect, delay / 2 + Math.random() * delay / 2);
    };
  }

  /* ---- inbox ---- */
  function Inbox(list) {
    var view = list.dataset.view, status = list.dataset.status, label = list.dataset.label;
    var firstPage = list.dataset.firstPage === "true";
    var since = list.dataset.since;
    var empty = document.getElementById("empty-state");

    function matches(c) {
      if (c.status !== status) return false;
      if (label && (c.labels || []).indexOf(label) < 0) return false;
      if (view === "mine") return c.assignee_id === me;
      if (view === "unassigned" || view === "queue") return !c.assignee_id;
      return true;
    }

    function track(c) {
      if (c.updated_at && (!since || c.updated_at > since)) since = c.updated_at;
    }

    /* The row as the server renders it for the page (one macro, _macros.html): frames and
     * the resync carry it as `row_html`. Our own autoescaped HTML, parsed inertly: no
     * scripts run. The unread count is the only part the page keeps itself (per agent). */
    function rowFrom(c) {
      if (typeof c.row_html !== "string") return null;
      var doc = new DOMParser().parseFromString("<ul>" + c.row_html + "</ul>", "text/html");
      var li = doc.querySelector("li.row");
      if (li) zoneTitles(li);
      return li ? document.adoptNode(li) : null;
    }

    function countOf(li) {
      return li ? Number(li.querySelector(".unread").dataset.count) || 0 : 0;
    }

    function setUnread(li, count) {
      var unread = li.querySelector(".unread");
      unread.dataset.count = String(count);
      unread.textContent = String(count);
      unread.setAttribute("aria-label", count + " unread");
      unread.hidden = count <= 0;
      li.classList.toggle("is-unread", count > 0);
    }

    function place(li) {
      // newest activity first
      var activity = li.dataset.activity;
      var rows = list.children;
      for (var i = 0; i < rows.length; i++) {
        if (rows[i] !== li && (rows[i].dataset.activity || "") < activity) {
          if (rows[i] !== li.nextSibling) list.insertBefore(li, rows[i]);
          return;
        }
      }
      if (li.parentNode !== list || li !== list.lastElementChild) list.append(li);
    }

    function upsert(c, bump) {
      track(c);
      var old = list.querySelector('li[data-id="' + CSS.escape(c.id) + '"]');
      if (!matches(c)) {
        if (old) old.remove();
      } else if (old || firstPage) {
        var li = rowFrom(c);
        if (!li) return;
        setUnread(li, typeof c.unread === "number" ? c.unread : countOf(old) + (bump ? 1 : 0));
        if (!old || old.classList.contains("is-new")) li.classList.add("is-new");
        if (old) old.replaceWith(li);
        place(li);
      }
      empty.hidden = list.children.length > 0;
    }

    this.frame = function (f) {
      if (f.type === "message" && f.conversation) {
        var m = f.message || {};
        upsert(f.conversation, m.author && m.author.kind === "visitor" && !m.internal);
      } else if (f.type === "conversation.updated" && f.conversation) {
        upsert(f.conversation, false);
      } else if (f.type === "read" && f.agent_id === me) {
        var li = list.querySelector('li[data-id="' + CSS.escape(f.conversation_id) + '"]');
        if (li) setUnread(li, f.unread || 0);
      } else if (f.type === "profile.updated" && f.profile) {
        var p = f.profile;
        list.querySelectorAll('li[data-profile="' + CSS.escape(p.id || "") + '"]').forEach(function (row) {
          var label = p.name || p.email || p.user_id;
          if (label) {
            row.querySelector(".row-name").textContent = label;
            row.querySelector(".avatar").textContent = initials(label);
          }
          setBadge(row.querySelector(".badge"), p.stage);
        });
      }
    };

    this.resync = function () {
      api("GET", "/api/changes?since=" + encodeURIComponent(since)).then(function (result) {
        result.conversations.forEach(function (c) { upsert(c, false); });
        if (!result.complete) location.reload();
      }).catch(function () { /* the next reconnect tries again */ });
    };
  }

  /* ---- one conversation ---- */
  /* Canned replies in the composer: typing "/sh" lists the shortcuts that start so (then
   * those that contain it); Tab
   * or Enter puts the highlighted reply's text in place of "/sh" (arrows move, Escape
   * closes). A message that is exactly a known "/shortcut" is sent as its text. */
  /* A canned reply's {{placeholders}} filled from the composer's data-fill-* (the person's
   * profile, the agent's name): {{first_name}}, {{name}}, {{email}}, {{user_id}},
   * {{agent_name}}; {{first_name|there}} says "there" when there is none. Plain text in,
   * plain text out (it goes into the textarea's value): nothing is parsed as HTML. */
  var PLACEHOLDER = /\{\{\s*([a-z_]+)\s*(?:\|([^{}]*))?\}\}/g;
  function fillPlaceholders(text, form) {
    var d = form.dataset;
    var name = (d.fillName || "").trim();
    var values = {
      name: name,
      first_name: (d.fillFirstName || "").trim() || name.split(/\s+/)[0] || "",
      email: d.fillEmail || "",
      user_id: d.fillUserId || "",
      agent_name: d.fillAgentName || ""
    };
    return text.replace(PLACEHOLDER, function (whole, key, fallback) {
      if (!Object.prototype.hasOwnProperty.call(values, key)) return whole; // not ours: as written
      return values[key] || (fallback || "").trim();
    });
  }

  function CannedShortcuts(box, select, listbox) {
    var replies = Array.prototype.filter.call(select.options, function (o) { return o.dataset.shortcut; })
      .map(function (o) { return { shortcut: o.dataset.shortcut, text: o.value }; });
    var shown = [], active = 0, token = null;

    function tokenAtCaret() {
      var before = box.value.slice(0, box.selectionStart);
      var m = /(^|\s)\/([A-Za-z0-9_-]*)$/.exec(before);
      return m ? { start: before.length - m[2].length - 1, word: m[2].toLowerCase() } : null;
    }
    function close() {
      shown = []; token = null;
      listbox.hidden = true;
      listbox.textContent = "";
      box.removeAttribute("aria-activedescendant");
    }
    function draw() {
      listbox.textContent = "";
      shown.forEach(function (r, i) {
        var li = el("li", "canned-option" + (i === active ? " is-active" : ""));
        li.id = "canned-option-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", String(i === active));
        li.append(el("code", null, "/" + r.shortcut), el("span", "canned-preview", r.text));
        li.addEventListener("mousedown", function (event) { event.preventDefault(); pick(i); });
        listbox.append(li);
      });
      listbox.hidden = false;
      box.setAttribute("aria-activedescendant", "canned-option-" + active);
    }
    function update() {
      token = tokenAtCaret();
      // the shortcuts that start with the word, then those that contain it ("/uk": ship-uk)
      var word = token ? token.word : null;
      shown = word === null ? [] : replies.filter(function (r) { return r.shortcut.indexOf(word) === 0; })
        .concat(replies.filter(function (r) { return r.shortcut.indexOf(word) > 0; }));
      if (!shown.length) return close();
      active = Math.min(active, shown.length - 1);
      draw();
    }
    function pick(i) {
      var text = fillPlaceholders(shown[i].text, box.form), end = box.selectionStart;
      box.value = box.value.slice(0, token.start) + text + box.value.slice(end);
      box.selectionStart = box.selectionEnd = token.start + text.length;
      close();
      box.focus();
      box.dispatchEvent(new Event("input"));
    }
    box.addEventListener("input", function () { if (replies.length) update(); });
    box.addEventListener("blur", close);

    /* true when the key was the list's (the composer must not also send) */
    this.handleKey = function (event) {
      if (!shown.length) return false;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
        draw();
      } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
        pick(active);
      } else if (event.key === "Escape") {
        close();
      } else {
        return false;
      }
      event.preventDefault();
      return true;
    };
    this.expand = function (text) {
      var m = /^\/([A-Za-z0-9_-]+)$/.exec(text);
      var found = m && replies.filter(function (r) { return r.shortcut === m[1].toLowerCase(); })[0];
      return found ? fillPlaceholders(found.text, box.form) : text;
    };
    this.close = close;
  }

  function Conversation(root) {
    var cid = root.dataset.id;
    var list = document.getElementById("messages");
    var scroller = document.getElementById("thread-scroll");
    var typingLine = document.getElementById("typing");
    var form = document.getElementById("composer");
    var box = document.getElementById("reply");
    var internal = document.getElementById("internal");
    var error = document.getElementById("composer-error");
    var cannedSelect = document.getElementById("canned");
    var shortcuts = cannedSelect
      ? new CannedShortcuts(box, cannedSelect, document.getElementById("canned-suggest"))
      : { handleKey: function () { return false; }, expand: function (t) { return t; }, close: function () {} };
    var replyPlaceholder = box.placeholder;
    var lastSeq = 0;
    var typers = {};

    list.querySelectorAll("li[data-seq]").forEach(function (li) {
      lastSeq = Math.max(lastSeq, Number(li.dataset.seq) || 0);
    });

    function atBottom() { return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80; }
    function toBottom() { scroller.scrollTop = scroller.scrollHeight; }
    toBottom();

    function renderActivity(m) {
      var li = el("li", "msg msg-activity");
      li.dataset.seq = String(m.seq);
      li.dataset.id = m.id || "";
      li.dataset.clientId = m.client_msg_id || "";
      li.dataset.activity = (m.activity && m.activity.type) || "";
      var time = el("time", null, m.created_at ? dateIn(Date.parse(m.created_at), { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }) : "");
      if (m.created_at) time.dateTime = m.created_at;
      li.append(el("span", "activity-text", m.text), document.createTextNode(" · "), time);
      return li;
    }

    function render(m) {
      if (m.kind === "activity") return renderActivity(m);
      var kind = m.internal ? "note" : ((m.author && m.author.kind) || "system");
      var li = el("li", "msg msg-" + kind);
      li.dataset.seq = m.seq === undefined ? "" : String(m.seq);
      li.dataset.id = m.id || "";
      li.dataset.clientId = m.client_msg_id || "";
      var meta = el("div", "msg-meta");
      var author = (m.author && m.author.name) ||
        (m.author && m.author.kind === "visitor" ? (root.dataset.visitorName || "Visitor") : "Parley");
      meta.append(el("span", "msg-author", (m.internal ? "Internal note · " : "") + author));
      if (m.via === "email") {
        var via = el("span", "msg-via", "\u2709");
        via.title = "Sent by email";
        via.setAttribute("aria-label", "Sent by email");
        meta.append(via);
      }
      var time = el("time", null, m.created_at ? ago(m.created_at) : "sending…");
      if (m.created_at) { time.dateTime = m.created_at; time.title = when(m.created_at); }
      meta.append(time);
      li.append(meta, el("div", "msg-text", m.text));
      return li;
    }

    function add(m) {
      if (!m || m.conversation_id !== cid) return;
      var stick = atBottom();
      var noMessages = document.getElementById("no-messages");
      if (noMessages) noMessages.remove();
      if (m.id && list.querySelector('li[data-id="' + CSS.escape(m.id) + '"]')) return;
      var node = render(m);
      var pending = m.client_msg_id && list.querySelector('li.is-pending[data-client-id="' + CSS.escape(m.client_msg_id) + '"], li.is-failed[data-client-id="' + CSS.escape(m.client_msg_id) + '"]');
      if (pending) pending.remove();
      var after = null;
      list.querySelectorAll("li[data-seq]:not(.is-pending)").forEach(function (li) {
        if (Number(li.dataset.seq) > m.seq && !after) after = li;
      });
      var firstPending = list.querySelector("li.is-pending");
      list.insertBefore(node, after || firstPending || null);
      lastSeq = Math.max(lastSeq, m.seq || 0);
      if (m.author && m.author.kind === "visitor") {
        clearTyping("visitor");
        markRead();
      }
      if (stick || (m.author && m.author.id === me)) toBottom();
    }

    /* older messages: a page below the oldest shown when the top of the thread comes into
       view (the button does the same by keyboard); the scroll position stays put */
    var older = document.getElementById("older");
    function oldestSeq() {
      var first = list.querySelector("li[data-seq]:not(.is-pending):not(.is-failed)");
      return first ? Number(first.dataset.seq) || 0 : 0;
    }
    function loadOlder() {
      if (!older || older.dataset.state !== "idle") return;
      var before = oldestSeq();
      if (before <= 1) { older.remove(); older = null; return; }
      older.dataset.state = "loading";
      api("GET", "/api/conversations/" + encodeURIComponent(cid) + "/messages?before_seq=" + before).then(function (page) {
        var height = scroller.scrollHeight, top = scroller.scrollTop;
        var anchor = list.firstChild;
        page.messages.forEach(function (m) {
          if (m.conversation_id !== cid || !m.id) return;
          if (list.querySelector('li[data-id="' + CSS.escape(m.id) + '"]')) return;  // arrived live
          list.insertBefore(render(m), anchor);
        });
        scroller.scrollTop = top + (scroller.scrollHeight - height);
        if (!page.has_more) { observer && observer.disconnect(); older.remove(); older = null; return; }
        older.dataset.state = "idle";
        if (observer) { observer.unobserve(older); observer.observe(older); }  // still in view: next page
      }).catch(function () {
        older.dataset.state = "idle";  // the button or the next scroll tries again
      });
    }
    var observer = null;
    if (older) {
      document.getElementById("older-button").addEventListener("click", loadOlder);
      if ("IntersectionObserver" in window) {
        observer = new IntersectionObserver(function (entries) {
          if (entries.some(function (e) { return e.isIntersecting; })) loadOlder();
        }, { root: scroller, rootMargin: "200px 0px 0px 0px" });
        observer.observe(older);
      }
    }

    var readTimer = null;
    function markRead() {
      if (document.hidden) return;
      clearTimeout(readTimer);
      readTimer = setTimeout(function () {
        api("POST", "/api/conversations/" + encodeURIComponent(cid) + "/read", { seq: lastSeq }).catch(function () {});
      }, 300);
    }
    document.addEventListener("visibilitychange", function () { if (!document.hidden) markRead(); });
    markRead();

    function showTyping() {
      var names = Object.keys(typers).map(function (k) { return typers[k].name; });
      typingLine.textContent = names.length ? names.join(", ") + (names.length > 1 ? " are typing…" : " is typing…") : "";
    }
    function setTyping(key, name, on) {
      if (typers[key]) clearTimeout(typers[key].timer);
      if (on) {
        typers[key] = { name: name, timer: setTimeout(function () { clearTyping(key); }, 8000) };
      } else {
        delete typers[key];
      }
      showTyping();
    }
    function clearTyping(key) { setTyping(key, "", false); }

    var sidebarLoading = false, sidebarAgain = false;
    function refreshSidebar() {
      var current = document.getElementById("sidebar");
      if (!current || !current.dataset.sidebarUrl) return;
      // A fetch already under way may have been answered before the news that asks for
      // this one: fetch once more when it lands, or its older copy would win.
      if (sidebarLoading) { sidebarAgain = true; return; }
      sidebarLoading = true;
      sidebarAgain = false;
      api("GET", current.dataset.sidebarUrl).then(function (html) {
        // our own server-rendered (autoescaped) fragment, parsed inertly: no scripts run
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("sidebar");
        if (fresh) document.getElementById("sidebar").replaceWith(document.adoptNode(fresh));
      }).catch(function () {}).then(function () {
        sidebarLoading = false;
        if (sidebarAgain) refreshSidebar();
      });
    }

    function concernsSidebar(p) {
      var side = document.getElementById("sidebar");
      if (!side) return false;
      var mine = side.dataset.profileId;
      var ids = (side.dataset.distinctIds || "").split(" ").filter(Boolean);
      if (!mine) return true; // no profile yet: any news may be ours
      if (p.id === mine) return true;
      var others = [].concat(p.merged_ids || [], p.merged_from || [], p.distinct_ids || []);
      return others.some(function (x) { return x === mine || ids.indexOf(x) >= 0; });
    }

    function patchSidebar(p) {
      var side = document.getElementById("sidebar");
      if (!side || (side.dataset.profileId && side.dataset.profileId !== p.id)) return;
      var badge = side.querySelector('.person [data-field="stage"]');
      if (badge && p.stage) setBadge(badge, p.stage);
      var label = p.name || p.email || p.user_id;
      if (label) {
        side.querySelector('[data-field="name"]').textContent = label;
        root.dataset.visitorName = label;
        var title = document.querySelector(".conv-title h1");
        if (title) title.textContent = label;
      }
      if (p.name) form.dataset.fillName = p.name;
      if (p.email) form.dataset.fillEmail = p.email;
      if (p.user_id) form.dataset.fillUserId = p.user_id;
      if (p.email) side.querySelector('[data-field="email"]').textContent = p.email;
      if (p.user_id) side.querySelector('[data-field="user_id"]').textContent = p.user_id;
    }

    this.frame = function (f) {
      if (f.type === "message") {
        add(f.message);
        if (f.conversation && f.conversation.id === cid) updateHeader(f.conversation);
      } else if (f.type === "conversation.updated" && f.conversation && f.conversation.id === cid) {
        updateHeader(f.conversation);
        var side = document.getElementById("sidebar");
        if (side && (f.conversation.profile_id || "") !== side.dataset.profileId) refreshSidebar();
      } else if (f.type === "typing" && f.conversation_id === cid) {
        setTyping("visitor", root.dataset.visitorName || "Visitor", !!f.typing);
      } else if (f.type === "agent.typing" && f.conversation_id === cid && f.agent && f.agent.id !== me) {
        setTyping("agent:" + f.agent.id, f.agent.name || "A colleague", !!f.typing);
      } else if (f.type === "profile.updated" && f.profile && concernsSidebar(f.profile)) {
        patchSidebar(f.profile);
        refreshSidebar();
      }
    };

    var STATUS_LABELS = { open: "Open", pending: "Pending", snoozed: "Snoozed", resolved: "Resolved" };
    function updateHeader(c) {
      var pill = document.querySelector(".conv-title .status");
      if (pill && c.status) {
        pill.className = "status status-" + c.status;
        pill.textContent = STATUS_LABELS[c.status] || c.status;
      }
      // the assignee control follows routing, a first reply and colleagues' changes
      var assignee = document.getElementById("assignee");
      if (assignee && "assignee_id" in c && document.activeElement !== assignee) {
        var want = c.assignee_id || "none";
        if (assignee.querySelector('option[value="' + CSS.escape(want) + '"]')) assignee.value = want;
      }
      if (c.rating) showRating(c.rating);
    }

    // the visitor's CSAT rating arrives live, beside the status (as conversation.html draws it)
    function showRating(r) {
      var title = document.querySelector(".conv-title");
      var box = title && title.querySelector('[data-field="rating"]');
      if (!title) return;
      if (!box) {
        box = document.createElement("span");
        box.className = "rating";
        box.dataset.field = "rating";
        var status = title.querySelector(".status");
        title.insertBefore(box, status ? status.nextSibling : null);
      }
      box.textContent = "\u2605 " + r.score + "/5";
      if (r.comment) {
        var q = document.createElement("q");
        q.textContent = r.comment.length > 120 ? r.comment.slice(0, 117) + "..." : r.comment;
        box.appendChild(document.createTextNode(" "));
        box.appendChild(q);
      }
    }

    this.resync = function () {
      api("GET", "/api/conversations/" + encodeURIComponent(cid) + "/messages?after_seq=" + lastSeq)
        .then(function (result) { result.messages.forEach(add); })
        .catch(function () {});
      refreshSidebar();
    };

    // composer: Enter sends, Shift+Enter is a new line
    var typingSentAt = 0, typingStop = null;
    function typing(on) {
      live.send({ type: "typing", conversation_id: cid, typing: on });
      typingSentAt = on ? Date.now() : 0;
    }
    box.addEventListener("input", function () {
      if (internal.checked) return; // notes are not announced to the visitor
      if (Date.now() - typingSentAt > 2500) typing(true);
      clearTimeout(typingStop);
      typingStop = setTimeout(function () { typing(false); }, 3000);
    });
    box.addEventListener("keydown", function (event) {
      if (event.isComposing || shortcuts.handleKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    function setNote(on) {
      internal.checked = on;
      form.classList.toggle("is-note", on);
      box.placeholder = on ? "Write an internal note: only your team sees it" : replyPlaceholder;
    }
    internal.addEventListener("change", function () { setNote(internal.checked); });
    var canned = document.getElementById("canned");
    if (canned) canned.addEventListener("change", function () {
      if (!canned.value) return;
      var text = fillPlaceholders(canned.value, form), start = box.selectionStart, end = box.selectionEnd;
      box.value = box.value.slice(0, start) + text + box.value.slice(end);
      box.focus();
      box.selectionStart = box.selectionEnd = start + text.length;
      canned.value = "";
    });

    var unsent = null;  // the last send that failed: {text, internal, id}
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      shortcuts.close();
      var text = shortcuts.expand(box.value.trim());
      if (!text) return;
      // sending a failed message again reuses its id: if the first try was stored after
      // all (chat was busy, the answer timed out), the retry answers that one, never a copy
      var again = unsent && unsent.text === text && unsent.internal === internal.checked;
      var id = again ? unsent.id : uuid();
      if (again) {
        var failed = list.querySelector('li.is-failed[data-client-id="' + CSS.escape(id) + '"]');
        if (failed) failed.remove();
      }
      unsent = null;
      var message = {
        conversation_id: cid, client_msg_id: id, text: text, internal: internal.checked,
        author: { kind: "agent", id: me, name: main.dataset.agentName }
      };
      var pending = render(message);
      pending.classList.add("is-pending");
      list.append(pending);
      toBottom();
      box.value = "";
      setNote(false); // a note is one message: the next one is a reply again unless asked
      error.textContent = "";
      clearTimeout(typingStop);
      if (typingSentAt) typing(false);
      api("POST", "/api/conversations/" + encodeURIComponent(cid) + "/messages", {
        text: text, internal: message.internal, client_msg_id: message.client_msg_id
      }).then(function (result) { add(result.message); }).catch(function (e) {
        unsent = { text: text, internal: message.internal, id: message.client_msg_id };
        pending.classList.remove("is-pending");
        pending.classList.add("is-failed");
        error.textContent = "Not sent: " + e.message;
        if (!box.value) { box.value = text; setNote(message.internal); }
      });
    });
  }

  /* ---- the person's earlier conversations, expanded inline in the sidebar (its latest
     50 messages); delegated: the sidebar is re-rendered when the person changes ---- */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.js-expand");
    if (!button) return;
    var thread = button.parentNode.querySelector("ol.previous-thread");
    var open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", open ? "false" : "true");
    button.textContent = open ? "Show here" : "Hide";
    thread.hidden = open;
    if (open || thread.dataset.loaded) return;
    thread.dataset.loaded = "1";
    api("GET", "/api/conversations/" + encodeURIComponent(button.dataset.conversation) +
        "/messages?before_seq=" + encodeURIComponent(button.dataset.before)).then(function (page) {
      page.messages.forEach(function (m) {
        var who = m.kind === "activity" ? "" : ((m.author && m.author.name) || (m.author && m.author.kind === "visitor" ? "Visitor" : "Parley")) + ": ";
        thread.append(el("li", m.kind === "activity" ? "muted" : null, who + m.text));
      });
    }).catch(function (e) {
      delete thread.dataset.loaded;
      thread.append(el("li", "muted", "Not loaded: " + e.message));
    });
  });

  /* ---- small helpers for forms ---- */
  document.querySelectorAll("select.js-autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
  document.querySelectorAll(".js-confirm").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  });
  document.querySelectorAll(".js-copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      var done = function () { var was = button.textContent; button.textContent = "Copied"; setTimeout(function () { button.textContent = was; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(source.value).then(done);
      else { source.select(); document.execCommand("copy"); done(); }
    });
  });
  setInterval(function () {
    document.querySelectorAll("time.row-time[datetime], .msg-meta time[datetime]").forEach(function (t) {
      if (t.dateTime) t.textContent = ago(t.dateTime);
    });
  }, 30000);

  if (!main) return;
  // the first visit: the browser's zone, until the agent chooses one (Your profile)
  var browserZone = window.Intl ? Intl.DateTimeFormat().resolvedOptions().timeZone : "";
  if (main.dataset.zoneChosen === "false" && browserZone && browserZone !== zone) {
    fetch("/me/time-zone", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ time_zone: browserZone })
    }).then(function (response) {
      if (!response.ok) return;
      zone = browserZone;
      main.dataset.zoneChosen = "true";
      zoneTitles(document);
    }).catch(function () {});
  }
  var inboxList = document.getElementById("conversation-list");
  if (inboxList) handlers.push(new Inbox(inboxList));
  var conversation = document.getElementById("conversation");
  if (conversation) handlers.push(new Conversation(conversation));
  connect();
})();
