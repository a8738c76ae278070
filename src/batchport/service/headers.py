"""Security headers on every response: no MIME sniffing, no referrer, a content security
policy that lets the API's answers run nothing (the web UI's pages and the interactive docs
run only their own scripts, from the package), and `Cache-Control: no-store`, since answers
carry tokens and private data (the package's static files, which carry neither, are cached)."""

from typing import Any

from fastapi import FastAPI, Request

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The API docs (Swagger UI, served from the package) run only its own scripts; it sets style
#: attributes, hence the inline styles.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS = ("/docs",)
#: The web UI's pages: their own script, styles and forms, nothing from elsewhere.
UI_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
UI = "/ui"
STATIC = "/ui/static/"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def install(app: FastAPI) -> None:
    """Adds the headers to every response of `app`."""

    @app.middleware("http")
    async def secure(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(of(request.url.path))
        return response


def of(path: str) -> dict[str, str]:
    """The headers of an answer at `path` (also for a server error's, which the middleware
    never sees)."""
    policy = DOCS_POLICY if path.startswith(DOCS) else API_POLICY
    found = {**HEADERS, "Content-Security-Policy": UI_POLICY if path.startswith(UI) else policy}
    if path.startswith(STATIC):  # the package's own files: nothing private, cache them
        found["Cache-Control"] = "public, max-age=3600"
    return found
