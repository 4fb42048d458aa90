// The signed-document form, enhanced: choosing a file fills its name, media type, size and
// SHA-256 (computed here with SubtleCrypto; the file itself is never sent, the register keeps
// its fingerprint). Without JavaScript, or where SubtleCrypto is missing (a page not served
// over HTTPS or from localhost), the fields are typed.
"use strict";
(function () {
  if (!window.crypto || !window.crypto.subtle) return;
  document.querySelectorAll('form[data-form="document"]').forEach(function (form) {
    var sha = form.querySelector('[name="sha256"]');
    var size = form.querySelector('[name="size"]');
    if (!sha || !size) return;
    var id = form.id + "-file";
    var field = document.createElement("div");
    field.className = "field";
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = "Fill in from a file (computed here, the file is not uploaded)";
    var input = document.createElement("input");
    input.type = "file";
    input.id = id;
    var status = document.createElement("span");
    status.className = "muted";
    status.setAttribute("role", "status");
    field.append(label, input, status);
    form.insertBefore(field, form.querySelector(".field"));
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      status.textContent = "Computing the SHA-256…";
      file.arrayBuffer()
        .then(function (bytes) { return window.crypto.subtle.digest("SHA-256", bytes); })
        .then(function (digest) {
          sha.value = Array.from(new Uint8Array(digest), function (b) {
            return b.toString(16).padStart(2, "0");
          }).join("");
          size.value = String(file.size);
          var name = form.querySelector('[name="name"]');
          if (name && !name.value) name.value = file.name;
          var type = form.querySelector('[name="media_type"]');
          if (type && !type.value && file.type) type.value = file.type;
          status.textContent = "Filled in from " + file.name + ".";
        })
        .catch(function () { status.textContent = "The file could not be read: type the fields."; });
    });
  });
})();
