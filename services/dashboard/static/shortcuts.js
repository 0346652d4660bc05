/* Parley dashboard: keyboard shortcuts for the daily loop (the list is in layout.html's
 * #shortcuts dialog, opened with "?"). Never while typing in a field, never with Ctrl,
 * Alt or Meta held: those keys belong to the browser and the field. */
(function () {
  "use strict";

  var ORDER_KEY = "parley.inbox.order"; // the inbox as last seen: j/k walk it from a thread
  var list = document.getElementById("conversation-list");
  var conversation = document.getElementById("conversation");
  var dialog = document.getElementById("shortcuts");

  function typing(target) {
    if (!target || !target.closest) return false;
    return !!target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  }

  /* ---- the inbox: j/k move through the rows, Enter opens (the row is a link) ---- */
  function rowLinks() {
    return list ? Array.prototype.slice.call(list.querySelectorAll("li.row > a.row-link")) : [];
  }
  function rememberOrder() {
    try {
      sessionStorage.setItem(ORDER_KEY, JSON.stringify(rowLinks().map(function (a) { return a.getAttribute("href"); })));
    } catch (e) { /* storage off: j/k work on the inbox only */ }
  }
  /* The row j/k reached, by conversation id: live updates replace rows (a new message
   * re-renders one), and the cursor must stay on the same conversation when they do. */
  var cursorId = null;
  function rowOf(id) {
    var li = id && list.querySelector('li.row[data-id="' + CSS.escape(id) + '"]');
    return li ? li.querySelector("a.row-link") : null;
  }
  function moveInList(step) {
    var links = rowLinks();
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    if (at < 0) at = links.indexOf(rowOf(cursorId));
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    cursorId = links[next].parentNode.dataset.id;
    links[next].focus();
  }
  function keepCursor() {
    var link = rowOf(cursorId);
    if (link && (document.activeElement === document.body || !document.activeElement)) link.focus();
  }

  /* ---- a thread: j/k open the next/previous conversation of the inbox as last seen ---- */
  function moveFromThread(step) {
    var order = [];
    try { order = JSON.parse(sessionStorage.getItem(ORDER_KEY) || "[]"); } catch (e) { order = []; }
    var here = order.indexOf(location.pathname);
    var next = here < 0 ? null : order[here + step];
    if (typeof next === "string" && next.indexOf("/conversations/") === 0) location.assign(next);
  }

  function compose(note) {
    var box = document.getElementById("reply");
    var internal = document.getElementById("internal");
    if (!box || !internal) return;
    if (internal.checked !== note) internal.click(); // the composer's own toggle: its look follows
    box.focus();
  }

  function press(selector) {
    var button = document.querySelector(selector);
    if (button) button.click();
  }

  function assignToMe() {
    var select = document.getElementById("assignee");
    var me = document.querySelector("main[data-agent-id]");
    if (!select || !me) return;
    var option = select.querySelector('option[value="' + CSS.escape(me.dataset.agentId) + '"]');
    if (!option || select.value === option.value) return;
    select.value = option.value;
    select.form.requestSubmit();
  }

  function search() {
    var field = document.querySelector('main input[type="search"]');
    if (field) { field.focus(); field.select(); return; }
    location.assign("/contacts#search");
  }

  var ACTIONS = {
    j: function () { if (list) moveInList(1); else if (conversation) moveFromThread(1); },
    k: function () { if (list) moveInList(-1); else if (conversation) moveFromThread(-1); },
    r: function () { compose(false); },
    n: function () { compose(true); },
    e: function () { press('#conversation button[name="status"][value="resolved"]'); },
    i: assignToMe,
    "/": search,
    "?": function () { if (dialog && !dialog.open) dialog.showModal(); }
  };

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || (dialog && dialog.open)) return;
    var action = ACTIONS[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  if (list) {
    rememberOrder();
    new MutationObserver(function () { rememberOrder(); keepCursor(); }).observe(list, { childList: true });
  }
  if (location.hash === "#search") search();
})();
