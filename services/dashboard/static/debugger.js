/* The event debugger: asks for the entries after the newest one shown, every few seconds,
   and puts them on top of the table. Text only (textContent): an event's fields are
   whatever a page or a server sent. */
(function () {
  "use strict";
  var table = document.getElementById("debugger");
  var body = document.getElementById("debugger-rows");
  if (!table || !body) return;
  var last = parseInt(table.dataset.last, 10) || 0;
  var every = parseInt(table.dataset.pollMs, 10) || 2000;
  var shown = parseInt(table.dataset.shown, 10) || 100;
  var empty = document.getElementById("debugger-empty");
  var status = document.getElementById("debugger-status");

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function pill(text) {
    var span = document.createElement("span");
    span.className = "pill";
    span.textContent = String(text);
    return span;
  }

  function row(e) {
    var tr = document.createElement("tr");
    tr.dataset.seq = String(e.seq);
    tr.dataset.status = String(e.status);
    tr.appendChild(cell(e.at, "mono"));
    var state = cell("");
    state.appendChild(pill(e.status));
    tr.appendChild(state);
    tr.appendChild(cell(e.type));
    tr.appendChild(cell(e.event));
    tr.appendChild(cell(e.user_id, "mono"));
    tr.appendChild(cell(e.anonymous_id, "mono"));
    tr.appendChild(cell(e.route, "mono"));
    tr.appendChild(cell(e.library));
    var reason = cell("");
    if (e.code) {
      reason.appendChild(pill(e.code));
      reason.appendChild(document.createTextNode(" "));
    }
    reason.appendChild(document.createTextNode(e.reason == null ? "" : String(e.reason)));
    tr.appendChild(reason);
    return tr;
  }

  function show(entries) {
    for (var i = 0; i < entries.length; i++) {
      body.insertBefore(row(entries[i]), body.firstChild);
      last = Math.max(last, entries[i].seq);
    }
    while (body.children.length > shown) body.removeChild(body.lastChild);
    if (empty && body.children.length) empty.hidden = true;
  }

  function poll() {
    fetch("/debugger/events?after=" + last, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (answer) {
        if (status) status.textContent = "";
        show(answer.entries || []);
      })
      .catch(function () {
        if (status) status.textContent = "Live updates paused: retrying.";
      })
      .then(function () { window.setTimeout(poll, every); });
  }

  window.setTimeout(poll, every);
})();
