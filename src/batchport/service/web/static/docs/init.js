// Starts Swagger UI on the API's own OpenAPI document (a file, so no inline script is needed).
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
});
