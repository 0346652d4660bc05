/* The visitor's identity and chat state in the HOST site's first-party storage:
   localStorage, else a first-party cookie, else memory (the page's life only).
   Never in a URL, never in the gateway's (third-party, partitioned) storage. */

var STORE_KEY = "parley_visitor";
var COOKIE_DAYS = 365;

function makeStore(win, memoryOnly) {
  var memory = {};
  var local = null;
  if (memoryOnly) return memoryStore(memory); // a continue link: nothing of this browser's
  try {
    local = win.localStorage;
    local.setItem(STORE_KEY + "_probe", "1");
    local.removeItem(STORE_KEY + "_probe");
  } catch (e) {
    local = null;
  }

  function readCookie() {
    var parts = (win.document.cookie || "").split("; ");
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].indexOf(STORE_KEY + "=") === 0) {
        return decodeURIComponent(parts[i].slice(STORE_KEY.length + 1));
      }
    }
    return null;
  }

  function writeCookie(value) {
    var secure = win.location.protocol === "https:" ? "; Secure" : "";
    var age = value === null ? 0 : COOKIE_DAYS * 86400;
    win.document.cookie =
      STORE_KEY + "=" + encodeURIComponent(value || "") + "; path=/; max-age=" + age +
      "; SameSite=Lax" + secure;
  }

  function load() {
    var raw = null;
    try {
      raw = local ? local.getItem(STORE_KEY) : readCookie();
    } catch (e) {
      raw = null;
    }
    if (raw === null) return memory;
    try {
      var data = JSON.parse(raw);
      return data && typeof data === "object" ? data : {};
    } catch (e) {
      return {};
    }
  }

  function save(data) {
    memory = data;
    var raw = JSON.stringify(data);
    try {
      if (local) local.setItem(STORE_KEY, raw);
      else writeCookie(raw);
    } catch (e) {
      /* storage full or blocked: the memory copy keeps this page working */
    }
  }

  return {
    get: function (name) {
      return load()[name];
    },
    set: function (name, value) {
      var data = load();
      data[name] = value;
      save(data);
    },
    clear: function () {
      memory = {};
      try {
        if (local) local.removeItem(STORE_KEY);
        else writeCookie(null);
      } catch (e) {
        /* nothing stored */
      }
    },
  };
}

/* The page's life only: a continue link's widget never reads or writes the visitor
   this browser already is (so the two never merge). */
function memoryStore(data) {
  return {
    get: function (name) { return data[name]; },
    set: function (name, value) { data[name] = value; },
    clear: function () { for (var k in data) delete data[k]; },
  };
}

if (typeof module === "object" && module && module.exports) {
  module.exports = { makeStore: makeStore };
}
