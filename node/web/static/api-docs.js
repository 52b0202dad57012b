// Starts Swagger UI on /api/v1/docs from this file, not inline (the CSP allows no inline
// script). No validator badge: it would call out to an outside service.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: false,
});
