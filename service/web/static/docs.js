// Swagger UI over the service's own OpenAPI document (no other host is contacted).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var target = document.getElementById("swagger-ui");
  if (!target || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: target.getAttribute("data-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: -1,
  });
});
