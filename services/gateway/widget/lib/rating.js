/* After resolution, under the "resolved" note: the rating (CSAT: 1-5 and an optional
   comment, once per conversation) and "Start a new conversation" (docs/widget.md, CSAT).
   `h`: rate(score, comment) and restart(), both returning false when offline. */

var MAX_COMMENT = 1000;

function Csat(words, h) {
  var self = this;
  this.words = words;
  this.h = h;
  this.id = null; // the resolved conversation on screen (null: none)
  this.rating = null; // its rating, once given
  this.score = 0;
  this.stars = [];
  this.question = el("p", { class: "q", id: "parley-rate-q" });
  var row = el("div", { class: "stars", role: "radiogroup", "aria-labelledby": "parley-rate-q" });
  [1, 2, 3, 4, 5].forEach(function (n) {
    var b = el("button", { type: "button", role: "radio", "aria-checked": "false", "data-score": String(n), text: "\u2605" });
    b.addEventListener("click", function () { self.pick(n); });
    self.stars.push(b);
    row.appendChild(b);
  });
  this.comment = el("textarea", { rows: "2", maxlength: String(MAX_COMMENT) });
  this.submit = el("button", { class: "primary", type: "button", disabled: "" });
  this.submit.addEventListener("click", function () {
    if (self.score && h.rate(self.score, self.comment.value.slice(0, MAX_COMMENT))) self.submit.disabled = true;
  });
  this.form = el("div", { class: "rate" }, [this.question, row, this.comment, this.submit]);
  this.thanks = el("p", { class: "thanks", role: "status" });
  this.again = el("button", { class: "again", type: "button" });
  this.again.addEventListener("click", function () { h.restart(); });
  this.box = el("div", { class: "csat", hidden: "" }, [this.form, this.thanks, this.again]);
  this.relabel();
}

Csat.prototype.pick = function (n) {
  this.score = n;
  this.stars.forEach(function (b, i) {
    b.setAttribute("aria-checked", String(i + 1 === n));
    b.classList.toggle("on", i < n);
  });
  this.submit.disabled = false;
};

/* The conversation on screen, its status and (from history) its rating. */
Csat.prototype.show = function (id, status, rating) {
  if (id !== this.id) {
    this.rating = null;
    this.pick(0);
    this.submit.disabled = true;
    this.comment.value = "";
  }
  this.id = id || null;
  if (rating !== undefined) this.rating = rating && typeof rating.score === "number" ? rating : null;
  this.box.hidden = !(this.id && status === "resolved");
  this.relabel();
};

Csat.prototype.rated = function (rating) {
  this.rating = rating;
  this.relabel();
};

Csat.prototype.failed = function () {
  this.submit.disabled = !this.score;
};

Csat.prototype.relabel = function () {
  var w = this.words;
  this.question.textContent = w.t("rate_question");
  this.stars.forEach(function (b, i) { b.setAttribute("aria-label", w.t("rate_star", { n: i + 1 })); });
  this.comment.setAttribute("aria-label", w.t("rate_comment"));
  this.comment.setAttribute("placeholder", w.t("rate_comment"));
  this.submit.textContent = w.t("rate_send");
  this.again.textContent = w.t("new_conversation");
  this.form.hidden = !!this.rating;
  this.thanks.hidden = !this.rating;
  this.thanks.textContent = this.rating ? w.t("rate_thanks", { n: this.rating.score }) : "";
};
