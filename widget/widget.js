/* Parley widget: placeholder until the widget issue lands. */
(function () { "use strict"; window.parley = window.parley || []; })();
