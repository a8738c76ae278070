"""The web UI, served by `batchport serve` beside the API under `/ui`: server-rendered pages
(Jinja2) over the same use cases and the same rules of who may do what (the service's
`Caller`), with no script but a small one of its own and no asset from outside the package.

    signin.py   the browser session: sign in with an API token, sign out, forms' tokens
    pages.py    history, a batch, its rollback (preview, then confirmation with a reason)
    uploads.py  upload a file, follow its validation, review it, commit it
    admin.py    accounts (create, rotate, disable, enable) and the audit log
    render.py   templates and the HTML error page
"""

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from batchport.service.web import admin, pages, signin, uploads
from batchport.service.web.render import HERE, error_page

#: Where the UI's pages are.
PREFIX = "/ui"

__all__ = ["PREFIX", "error_page", "install"]


def install(app: FastAPI) -> None:
    """Serves the UI's pages and its assets (all in the package) from `app`."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(uploads.router)
    app.include_router(admin.router)
    app.exception_handler(signin.SignInNeeded)(_sign_in_first)
    app.get("/", include_in_schema=False)(_home)
    app.get("/docs", include_in_schema=False)(_docs)


async def _sign_in_first(_request: Request, _exc: Exception) -> Response:
    return RedirectResponse(f"{PREFIX}/signin", status_code=303)


def _home() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>batchport API</title>
<link rel="stylesheet" href="/ui/static/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/ui/static/docs/swagger-ui-bundle.js"></script>
<script src="/ui/static/docs/init.js"></script></body></html>"""


def _docs() -> Response:
    """The API's interactive docs (Swagger UI), every asset from the package."""
    return HTMLResponse(DOCS)
