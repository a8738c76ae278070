"""Reading an upload: only once its caller is known (the route declares no form fields, so
FastAPI reads no body before the dependencies have run), streamed, with the size limit
enforced while the bytes arrive, chunked or not. The file part is spooled to disk past 1 MiB
(Starlette's multipart parser), never held whole in memory before it is checked."""

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message, Receive

from batchport import commands
from batchport.errors import TooManyRows
from batchport.service.dependencies import Caller, Settings
from batchport.service.problems import Problem
from batchport.sessions import Session
from batchport.vocabulary import OnExisting

#: The form fields an upload may have.
FIELDS = ("import_type", "file", "on_existing", "encoding", "delimiter")
#: The encodings and delimiters an upload may name for a CSV (else both are detected).
ENCODINGS = ("utf-8", "utf-16", "cp1252", "latin-1", "iso-8859-15", "cp1251", "shift_jis")
DELIMITERS = (",", ";", "tab", "|")
#: Room for the multipart framing and the small fields beyond the file's own bytes.
FRAMING = 1 << 16


@dataclass(frozen=True)
class Upload:
    """A valid upload's fields (and, from a page's form, its token against forgery)."""

    import_type: str
    file_name: str
    content: bytes
    on_existing: OnExisting
    encoding: str | None = None
    delimiter: str | None = None
    csrf: str | None = None


def schema(import_types: list[str]) -> dict[str, Any]:
    """The upload's request body, for the OpenAPI document."""
    body = {
        "type": "object",
        "properties": {
            "import_type": {"type": "string", "enum": import_types},
            "file": {"type": "string", "format": "binary"},
            "on_existing": {
                "type": "string",
                "enum": [str(o) for o in OnExisting],
                "default": str(OnExisting.error),
            },
            "encoding": {"type": "string", "enum": list(ENCODINGS)},
            "delimiter": {"type": "string", "enum": list(DELIMITERS)},
        },
        "required": ["import_type", "file"],
        "additionalProperties": False,
    }
    return {"required": True, "content": {"multipart/form-data": {"schema": body}}}


async def read_upload(
    request: Request, limit: int, import_types: list[str], *, page: bool = False
) -> Upload:
    """The upload's fields, checked; 413 past `limit` bytes, 422 for anything but one
    `import_type` of `import_types`, one file and at most one `on_existing` (and, from a
    `page`'s form, its `csrf` token)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + FRAMING:
        raise _too_large("the upload", limit)
    bounded = Request(request.scope, receive=limited(request.receive, limit + FRAMING))
    form = await bounded.form(max_files=len(FIELDS), max_fields=len(FIELDS) * 3)
    try:
        fields = _fields(form, (*FIELDS, "csrf") if page else FIELDS, page=page)
        file = fields["file"]
        if not isinstance(file, UploadFile):
            raise _invalid("file", "expected a file")
        content = await file.read(limit + 1)
        if len(content) > limit:
            raise _too_large("the file", limit)
        return Upload(
            import_type=_choice(fields, "import_type", import_types),
            file_name=file.filename or "upload.csv",
            content=content,
            on_existing=OnExisting(_choice(fields, "on_existing", list(OnExisting), "error")),
            encoding=_choice(fields, "encoding", list(ENCODINGS), "") or None,
            delimiter=_choice(fields, "delimiter", list(DELIMITERS), "") or None,
            csrf=str(fields.get("csrf") or "") if page else None,
        )
    finally:
        await form.close()


def _fields(form: FormData, allowed: tuple[str, ...], *, page: bool) -> dict[str, str | UploadFile]:
    """The form's fields, each once and known; empty ones refused (FastAPI's habit of reading
    them as absent would hide a mistake), but a page's empty choices mean "detect it"."""
    repeated = sorted({k for k in form if len(form.getlist(k)) > 1})
    if repeated:
        raise Problem(422, "invalid_request", "repeated form fields", repeated)
    unknown = sorted(set(form.keys()) - set(allowed))
    if unknown:
        raise Problem(422, "invalid_request", "unknown form fields", unknown)
    detected = ("encoding", "delimiter") if page else ()
    empty = sorted(k for k, v in form.multi_items() if v == "" and k not in detected)
    if empty:
        raise Problem(422, "invalid_request", "empty form fields", empty)
    for required in ("import_type", "file"):
        if required not in form:
            raise _invalid(required, "Field required")
    return {k: v for k, v in form.items() if v != "" or k not in detected}


def _choice(
    fields: dict[str, str | UploadFile], name: str, allowed: list[str], default: str = ""
) -> str:
    value = fields.get(name, default)
    if value == default:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise _invalid(name, f"Input should be one of: {', '.join(allowed)}")
    return value


def _invalid(field: str, message: str) -> Problem:
    details = [{"loc": ["body", field], "msg": message}]
    return Problem(422, "invalid_request", "the request is not valid", details)


def _too_large(what: str, limit: int) -> Problem:
    return Problem(413, "too_large", f"{what} is over the upload limit of {limit:,} bytes")


def limited(receive: Receive, limit: int) -> Receive:
    """`receive` that fails with 413 as soon as the body passes `limit` bytes."""
    received = 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large("the upload", limit - FRAMING)
        return message

    return counting


def keep(config: Settings, caller: Caller, form: Upload) -> Session:
    """Keeps a read upload as the caller's session (the use case); 413 past the row limit."""
    try:
        return commands.upload_session(
            config.db,
            owner=caller.name,
            import_type=form.import_type,
            file_name=form.file_name,
            content=form.content,
            on_existing=form.on_existing,
            encoding=form.encoding,
            delimiter=form.delimiter,
            limits=config.read_limits,
            remote=caller.remote,
        )
    except TooManyRows as exc:
        raise Problem(413, "too_many_rows", str(exc)) from exc
