(function (w, d, config) {
  /* Parley loader: queue calls until /widget.js (async) replays them. A second copy is a no-op. */
  var p = (w.parley = w.parley || []);
  if (p.invoked) return;
  p.invoked = true;
  p.config = config;
  ["alias", "identify", "track", "page", "reset", "open", "close", "on"].forEach(function (m) {
    p[m] = function () {
      p.push([m].concat([].slice.call(arguments)));
      return p;
    };
  });
  var s = d.createElement("script");
  s.async = true;
  s.src = config.host + "/widget.js";
  d.head.appendChild(s);
})(window, document, __PARLEY_CONFIG__);
