// Starts Swagger UI on the document. A file of its own, not an inline script: the page's
// Content-Security-Policy runs scripts of its own origin only.
"use strict";
if (window.SwaggerUIBundle) {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No call to the public validator at validator.swagger.io: the page stays on its origin.
    validatorUrl: null,
  });
} else {
  document.getElementById("fallback").textContent =
    "The renderer (Swagger UI, /api/docs/swagger-ui-bundle.js) could not be loaded. " +
    "The OpenAPI 3 document is at /api/openapi.json.";
}
