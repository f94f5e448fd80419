// /docs: Swagger UI on this service's /openapi.json. A file of its own (no inline script), so /docs can be served
// with a strict Content-Security-Policy; nothing is fetched from elsewhere (no validator badge).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
