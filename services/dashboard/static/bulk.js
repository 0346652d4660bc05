/* Parley dashboard: the inbox's bulk bar ("Select all" ticks every row shown) and the
 * conversation page's labels, which follow colleagues' changes live. */
(function () {
  "use strict";

  var all = document.getElementById("pick-all");
  var list = document.getElementById("conversation-list");
  if (all && list) {
    all.addEventListener("change", function () {
      list.querySelectorAll("input.row-pick").forEach(function (box) { box.checked = all.checked; });
    });
    list.addEventListener("change", function (event) {
      if (!event.target.classList || !event.target.classList.contains("row-pick")) return;
      var boxes = list.querySelectorAll("input.row-pick");
      all.checked = boxes.length > 0 && Array.prototype.every.call(boxes, function (b) { return b.checked; });
    });
  }

  /* The labels box is our own server-rendered fragment; re-fetched when a frame says
   * this conversation's labels are not the ones shown. */
  var box = document.getElementById("conversation-labels");
  if (box && window.parleyLive) {
    var cid = box.dataset.conversation;
    window.parleyLive.listen({ frame: function (f) {
      if (f.type !== "conversation.updated" || !f.conversation || f.conversation.id !== cid) return;
      var shown = box.dataset.labels || "";
      var now = (f.conversation.labels || []).slice().sort().join(" ");
      if (shown.split(" ").filter(Boolean).sort().join(" ") === now) return;
      fetch("/conversations/" + encodeURIComponent(cid) + "/labels", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("conversation-labels");
          if (!fresh) return;
          box.replaceWith(document.adoptNode(fresh));
          box = document.getElementById("conversation-labels");
          box.querySelectorAll("select.js-autosubmit").forEach(function (select) {
            select.addEventListener("change", function () { select.form.requestSubmit(); });
          });
        });
    } });
  }
})();
