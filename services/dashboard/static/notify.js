/* Telling the agent of a visitor message nobody answered: a browser notification, a sound
   and the count in the tab title, each the agent's own setting (Your notifications).
   Counted: visitor messages in conversations assigned to this agent or to nobody, that
   arrived while this tab was open and not looking at that conversation; a reply by any
   agent, or this agent reading the conversation, clears its count. */
(function () {
  "use strict";
  var main = document.querySelector("main[data-agent-id]");
  var live = window.parleyLive;
  if (!main || !live || !live.listen) return;
  var me = main.dataset.agentId;
  var on = {
    browser: main.dataset.notifyBrowser === "true",
    sound: main.dataset.notifySound === "true",
    title: main.dataset.notifyTitle === "true",
  };
  var open = document.getElementById("conversation");
  var viewing = open ? open.dataset.id : null;
  var baseTitle = document.title;
  var pending = {}; // conversation id -> visitor messages nobody answered yet
  var canNotify = typeof window.Notification === "function";

  function forMe(c) { return !c || !c.assignee_id || c.assignee_id === me; }
  function looking(cid) { return cid === viewing && !document.hidden; }

  function showCount() {
    var n = 0;
    for (var cid in pending) n += pending[cid];
    document.title = on.title && n ? "(" + n + ") " + baseTitle : baseTitle;
  }

  function clear(cid) {
    if (!pending[cid]) return;
    delete pending[cid];
    showCount();
  }

  /* ---- the sound: a short chime from Web Audio; browsers let it play only after the
     agent has clicked or typed in this tab once (their autoplay rule) ---- */
  var audio = null;
  function unlockAudio() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) audio = new Ctx();
    if (audio && audio.state === "suspended") audio.resume();
  }
  function chime() {
    if (!audio) return;
    var t = audio.currentTime;
    var tone = audio.createOscillator();
    var gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.4);
    tone.connect(gain);
    gain.connect(audio.destination);
    tone.start(t);
    tone.stop(t + 0.45);
  }
  if (on.sound) {
    document.addEventListener("pointerdown", unlockAudio);
    document.addEventListener("keydown", unlockAudio);
  }

  function popUp(m) {
    if (!on.browser || !canNotify || Notification.permission !== "granted") return;
    var text = String(m.text || "");
    var note = new Notification("New message from a visitor", {
      body: text.length > 200 ? text.slice(0, 199) + "\u2026" : text, // shown as plain text
      tag: "parley-" + m.conversation_id, // one per conversation: a newer one replaces it
    });
    note.onclick = function () {
      window.focus();
      location.href = "/conversations/" + encodeURIComponent(m.conversation_id);
      note.close();
    };
  }

  live.listen({
    frame: function (f) {
      if (f.type === "message" && f.message && !f.message.internal) {
        var m = f.message;
        var kind = m.author && m.author.kind;
        if (kind === "agent") return clear(m.conversation_id);
        if (kind !== "visitor" || !forMe(f.conversation) || looking(m.conversation_id)) return;
        pending[m.conversation_id] = (pending[m.conversation_id] || 0) + 1;
        showCount();
        popUp(m);
        if (on.sound) chime();
      } else if (f.type === "read" && f.agent_id === me) {
        clear(f.conversation_id);
      } else if (f.type === "conversation.updated" && f.conversation && !forMe(f.conversation)) {
        clear(f.conversation.id); // a colleague took it
      }
    },
  });
  document.addEventListener("visibilitychange", function () {
    if (viewing && !document.hidden) clear(viewing);
  });

  /* ---- the browser's permission, asked only when the agent clicks for it ---- */
  var ask = document.getElementById("notify-ask");
  function showAsk() {
    var later = false;
    try { later = sessionStorage.getItem("parley_notify_later") === "1"; } catch (e) { /* blocked */ }
    if (ask) ask.hidden = !(on.browser && canNotify && Notification.permission === "default" && !later);
    var state = document.getElementById("notify-permission");
    if (state && canNotify && Notification.permission === "denied") {
      state.hidden = false;
      state.textContent = "This browser blocks notifications from Parley: allow them in the site settings of your browser.";
    }
  }
  if (ask) {
    document.getElementById("notify-allow").addEventListener("click", function () {
      var asked = Notification.requestPermission(showAsk);
      if (asked && asked.then) asked.then(showAsk);
      ask.hidden = true;
    });
    document.getElementById("notify-later").addEventListener("click", function () {
      try { sessionStorage.setItem("parley_notify_later", "1"); } catch (e) { /* blocked */ }
      ask.hidden = true;
    });
  }
  showAsk();
})();
