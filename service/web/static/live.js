// Live updates, inert unless the page names a live endpoint (<meta name="agreements-live">).
// On each message, the page is fetched again and each region marked `data-live` is replaced,
// unless it holds the element being typed in; forms are never replaced.
"use strict";
(function () {
  var meta = document.querySelector('meta[name="agreements-live"]');
  if (!meta || typeof window.EventSource !== "function") return;
  var pending = false;
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
          if (region.contains(document.activeElement) || region.querySelector("form")) return;
          var name = region.getAttribute("data-live");
          var next = fresh.querySelector('[data-live="' + name + '"]');
          if (next) region.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () { pending = false; });
  }
  var source = new EventSource(meta.getAttribute("content"));
  source.onmessage = refresh;
  source.addEventListener("append", refresh);
  source.onerror = function () { if (source.readyState === EventSource.CLOSED) source.close(); };
})();
