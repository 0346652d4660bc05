/* The widget's words: English inline, the other shipped languages fetched lazily from
   /widget/lang/<lang>.json, and the workspace's overrides (the welcome frame's `look`)
   on top. Every string the visitor sees or hears comes through `t`; the UI renders
   them with textContent only. Pure (no DOM, no network): node tests cover it. */

var EN = {
  greeting: "Hi! Ask us anything \u2014 we\u2019re happy to help.",
  away: "We\u2019re away right now. Leave a message.",
  online_one: "{names} is online",
  online_many: "{names} are online",
  online: "We\u2019re online",
  replies_minutes: "Usually replies in a few minutes",
  replies_hour: "Usually replies in under an hour",
  replies_day: "Usually replies within a day",
  title: "Chat with us",
  open: "Open chat",
  hide: "Hide chat",
  close: "Close chat",
  placeholder: "Write a message\u2026",
  send: "Send",
  sending: "Sending\u2026",
  sent: "Sent",
  seen: "Seen",
  not_sent: "Not sent.",
  retry: "Retry",
  connecting: "Connecting\u2026",
  offline: "Offline \u2014 reconnecting\u2026",
  unavailable: "Chat isn\u2019t available right now. Please contact us another way.",
  expired: "This link has expired. To start a new chat, open the chat on the website where you wrote to us.",
  back: "You\u2019re back in your conversation",
  resolved: "This conversation was marked resolved. Write again any time.",
  typing: "{name} is typing\u2026",
  someone: "Someone",
  support: "Support",
  via_email: "Sent by email",
  unread: "{n} unread",
  log_label: "Conversation",
  message_label: "Message",
  email_label: "Email",
  email_ask: "We'll reply by email. Leave your address:",
  email_wait: "Sorry for the wait. We'll reply by email if you leave your address.",
  email_away: "No one is here right now. We'll reply by email: leave your address.",
  email_where: "Where should we email you?",
  notify: "Notify me",
  email_confirm: "We\u2019ll email you at {email} when we reply \u2014 not you?",
  email_change: "change it",
  too_long: "Your message is too long (at most {n} characters).",
  not_sent_why: "Your message was not sent.",
  bad_email: "Please enter a valid email address.",
  slow_down: "You're sending messages too fast. Try again in {n} s.",
  offline_try: "You're offline. Try again in a moment.",
  busy: "Lots of chats right now: your message is saved and the team will see it shortly.",
  now: "now",
  min: "{n} min",
  hour: "{n} h",
  day: "{n} d",
  your_conversations: "Your conversations",
  a_conversation: "Conversation",
  rate_question: "How would you rate this conversation?",
  rate_star: "{n} out of 5",
  rate_comment: "Tell us more (optional)",
  rate_send: "Send rating",
  rate_thanks: "Thanks for your rating: {n}/5",
  rate_failed: "Your rating was not sent. Try again.",
  new_conversation: "Start a new conversation",
};
var SHIPPED = ["en", "fr", "de", "es", "pt"];
var RTL = ["ar", "he"];
var MAX_STRING = 300;

/* The first of the browser's languages the widget can speak: a shipped one, or one the
   workspace added strings for (`extra`, e.g. ["ar"]). English when none fits. */
function chooseLanguage(languages, extra) {
  var known = SHIPPED.concat(extra || []);
  var list = Array.isArray(languages) ? languages : [];
  for (var i = 0; i < list.length; i++) {
    var base = String(list[i] || "").toLowerCase().split("-")[0];
    if (known.indexOf(base) >= 0) return base;
  }
  return "en";
}

function isRtl(lang) {
  return RTL.indexOf(lang) >= 0;
}

/* Only known keys with plain string values survive (a fetched catalogue, overrides). */
function cleanStrings(raw) {
  var out = {};
  if (!raw || typeof raw !== "object") return out;
  for (var key in EN) {
    if (Object.prototype.hasOwnProperty.call(raw, key) && typeof raw[key] === "string" && raw[key].length <= MAX_STRING) out[key] = raw[key];
  }
  return out;
}

/* Lookup order: the workspace's override for the language, then (English only) the
   workspace's own greeting and away message, the language's catalogue, English. */
function Words(lang) {
  this.lang = lang || "en";
  this.catalogue = {};
  this.overrides = {};
  this.defaults = {};
}

Words.prototype.t = function (key, vars) {
  var own = this.lang === "en" || !this.catalogue[key] ? this.defaults[key] : null;
  return fill(this.overrides[key] || own || this.catalogue[key] || EN[key] || key, vars);
};

function fill(text, vars) {
  return String(text).replace(/\{(\w+)\}/g, function (all, name) {
    return vars && vars[name] != null ? String(vars[name]) : all;
  });
}

/* "now", "3 min", "2 h", "5 d" since `iso`; "" for a missing or unreadable time. */
function relativeTime(iso, nowMs, words) {
  var at = Date.parse(iso);
  if (!iso || isNaN(at)) return "";
  var s = Math.max(0, (nowMs - at) / 1000);
  if (s < 45) return words.t("now");
  if (s < 3600) return words.t("min", { n: Math.max(1, Math.round(s / 60)) });
  if (s < 86400) return words.t("hour", { n: Math.floor(s / 3600) });
  return words.t("day", { n: Math.floor(s / 86400) });
}

/* The header's second line when someone will answer: from the median first response. */
function replyLine(minutes, words) {
  if (typeof minutes !== "number" || !(minutes > 0)) return "";
  if (minutes <= 10) return words.t("replies_minutes");
  if (minutes < 60) return words.t("replies_hour");
  return words.t("replies_day");
}

if (typeof module === "object" && module && module.exports) {
  module.exports = {
    EN: EN, chooseLanguage: chooseLanguage, isRtl: isRtl, cleanStrings: cleanStrings,
    Words: Words, relativeTime: relativeTime, replyLine: replyLine, fill: fill,
  };
}
