// Live updates, inert unless the page names a live endpoint (<meta name="agreements-live">,
// rendered only when the service serves GET /live). On each `changed` message the page is
// fetched again and each region marked `data-live` is replaced by its new version, unless
// someone is in it: it holds the focus, or a field whose value was typed and not yet sent.
"use strict";
(function () {
  var meta = document.querySelector('meta[name="agreements-live"]');
  if (!meta || typeof window.EventSource !== "function") return;
  var pending = false;
  function busy(region) {
    if (region.contains(document.activeElement)) return true;
    var fields = region.querySelectorAll("input, textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].type !== "hidden" && fields[i].value !== fields[i].defaultValue) return true;
    }
    return false;
  }
  function refresh() {
    if (pending) return;
    pending = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (text) {
        pending = false;
        if (!text) return;
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (region) {
          if (busy(region)) return;
          var next = fresh.querySelector('[data-live="' + region.getAttribute("data-live") + '"]');
          if (next) region.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () { pending = false; });
  }
  var source = new EventSource(meta.getAttribute("content"));
  source.addEventListener("changed", refresh);
  source.onmessage = refresh;
})();
