"""Rendering: the Jinja2 templates with their filters, and errors as a page."""

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from batchport.reports import iso_time

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.filters["thousands"] = lambda n: f"{n:,}" if isinstance(n, int) else n


def _iso(value: object) -> str:
    """A time as the API shows it (UTC, with its offset), for a page's `<time datetime>`."""
    if isinstance(value, dt.datetime):
        return iso_time(value)
    return str(value or "")


TEMPLATES.env.filters["iso"] = _iso


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template `name` rendered with `context` (and the signed-in browser, if any)."""
    context.setdefault("signed", getattr(request.state, "signed", None))
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status)


def said(exc: Exception) -> str:
    """A refusal in words: a form's first invalid field and what is wrong with it, or the
    error's own message."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as a page: its status, and what happened in words."""
    return page(request, "error.html", status=status, status_code=status, message=message)
