// Live updates, inert unless the page names a live endpoint (<meta name="agreements-live">,
// rendered only when the service serves GET /live). On each `changed` message the page is
// fetched again and each region marked `data-live` is replaced by its new version, unless
// someone is in it: it holds the focus, a field whose value was typed and not yet sent, or a
// form they opened. Such a region is kept as it is (its forms, what was typed, what is open)
// and, when what it shows changed, says so with a link to reload.
"use strict";
(function () {
  var meta = document.querySelector('meta[name="agreements-live"]');
  if (!meta || typeof window.EventSource !== "function") return;
  var pending = false;
  var again = false;

  function edited(field) {
    if (field.type === "hidden" || field.type === "submit" || field.type === "button") return false;
    if (field.tagName === "SELECT") {
      for (var i = 0; i < field.options.length; i++) {
        if (field.options[i].selected !== field.options[i].defaultSelected) return true;
      }
      return false;
    }
    if (field.type === "checkbox" || field.type === "radio") {
      return field.checked !== field.defaultChecked;
    }
    return field.value !== field.defaultValue;
  }

  // A form in a <details> is named (data-form), so the same one is found in the page fetched
  // again: one open here but closed there was opened by the person reading.
  function opened(details, fresh) {
    if (!details.open) return false;
    var form = details.querySelector("form[data-form]");
    if (!form) return false;
    var there = fresh.querySelector('form[data-form="' + CSS.escape(form.getAttribute("data-form")) + '"]');
    var wrapper = there && there.closest("details");
    return !(wrapper && wrapper.open);
  }

  function busy(region, fresh) {
    var focused = document.activeElement;
    if (focused && focused !== region && region.contains(focused)) return true;
    var fields = region.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      if (edited(fields[i])) return true;
    }
    var details = region.querySelectorAll("details");
    for (var j = 0; j < details.length; j++) {
      if (opened(details[j], fresh)) return true;
    }
    return false;
  }

  // What a region shows, without its forms (their hidden fields change on every rendering)
  // and without the notice added here.
  function shown(region) {
    var copy = region.cloneNode(true);
    copy.querySelectorAll("form, [data-live-notice]").forEach(function (node) { node.remove(); });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  function announce(region) {
    if (region.querySelector("[data-live-notice]")) return;
    var notice = document.createElement("p");
    notice.className = "notice";
    notice.setAttribute("role", "status");
    notice.setAttribute("data-live-notice", "");
    notice.appendChild(document.createTextNode(
      "This part changed while you were using it; it is kept as it was so that nothing you typed is lost. "
    ));
    var reload = document.createElement("a");
    reload.href = window.location.pathname;
    reload.textContent = "Reload to see the changes";
    notice.appendChild(reload);
    notice.appendChild(document.createTextNode(" (what you have not submitted is then lost)."));
    var heading = region.querySelector("h2");
    if (heading) heading.after(notice);
    else region.prepend(notice);
  }

  function update(text) {
    var fresh = new DOMParser().parseFromString(text, "text/html");
    document.querySelectorAll("[data-live]").forEach(function (region) {
      var name = region.getAttribute("data-live");
      var next = fresh.querySelector('[data-live="' + CSS.escape(name) + '"]');
      if (!next) return;
      if (busy(region, next)) {
        if (shown(region) !== shown(next)) announce(region);
        return;
      }
      region.replaceWith(document.importNode(next, true));
    });
  }

  // A change announced while the page is being fetched may not be in that answer: fetch once
  // more after it.
  function settle() {
    pending = false;
    if (again) {
      again = false;
      refresh();
    }
  }

  function refresh() {
    if (pending) {
      again = true;
      return;
    }
    pending = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (text) {
        if (text) update(text);
        settle();
      })
      .catch(settle);
  }

  var source = new EventSource(meta.getAttribute("content"));
  source.addEventListener("changed", refresh);
  source.onmessage = refresh;
})();
