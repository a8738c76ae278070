"""Reading an upload: only once its caller is known (the route declares no form fields, so
FastAPI reads no body before the dependencies have run), streamed, with the size limit
enforced while the bytes arrive, chunked or not. The file part is spooled to disk past 1 MiB
(Starlette's multipart parser), never held whole in memory before it is checked."""

import encodings
import pkgutil
from dataclasses import dataclass
from encodings.aliases import aliases
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message, Receive

from batchport import commands
from batchport.errors import TooManyRows
from batchport.service.dependencies import Caller, Settings
from batchport.service.models import NO_NUL
from batchport.service.problems import Problem
from batchport.sessions import Session
from batchport.sources import text_codec
from batchport.vocabulary import OnExisting

#: The form fields an upload may have.
FIELDS = ("import_type", "file", "on_existing", "encoding", "delimiter", "sheet")
#: The encodings and delimiters the web UI offers for a CSV (else both are detected); an
#: upload may name any the CLI takes: a text encoding Python knows, any one character.
#: The encodings the web UI's upload form offers: every one a refusal of the detector may
#: suggest (see `sources.detection`), and the usual others.
ENCODINGS = (
    "utf-8",
    "utf-16",
    *(f"windows-{page}" for page in range(1250, 1258)),
    "iso8859-1",
    "iso8859-2",
    "iso8859-15",
    "koi8-r",
    "cp932",
    "euc-jp",
    "gb18030",
    "cp950",
    "cp949",
)
DELIMITERS = (",", ";", "tab", "|")
#: Delimiters named in words, as the CLI's `--delimiter` takes them (in any case).
NAMED_DELIMITERS = ("tab", "\\t", "comma", "semicolon")
#: A delimiter: one character but a quote, a line break or NUL, or one named in words.
DELIMITER = r'^(?:[^"\r\n\x00]|tab|comma|semicolon|\\t)$'
#: The longest sheet name an upload may give (Excel allows 31 characters).
SHEET_LENGTH = 255
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
    sheet: str | None = None
    csrf: str | None = None


def _text_encodings() -> list[str]:
    """The canonical names of every text encoding Python knows."""
    modules = {module.name for module in pkgutil.iter_modules(encodings.__path__)}
    found = (text_codec(name) for name in modules | set(aliases.values()))
    return sorted({codec.name for codec in found if codec is not None})


#: The encodings an upload may name, for the OpenAPI document (any other spelling of one, such
#: as `latin-1` or `UTF8`, is taken too).
TEXT_ENCODINGS = _text_encodings()


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
            "encoding": {
                "type": "string",
                "enum": TEXT_ENCODINGS,
                "description": "A CSV file's encoding (default: detected), as the CLI's "
                "`--encoding`; any spelling Python knows, e.g. `latin-1`.",
            },
            "delimiter": {
                "type": "string",
                "pattern": DELIMITER,
                "description": "A CSV file's delimiter (default: detected from the header), "
                "as the CLI's `--delimiter`: one character, or `tab`, `comma`, `semicolon`.",
            },
            "sheet": {
                "type": "string",
                "minLength": 1,
                "maxLength": SHEET_LENGTH,
                "pattern": NO_NUL,
                "description": "The sheet to read of a workbook uploaded for one import type "
                "(default: the first), as the CLI's `--sheet`; a CSV has none, and a "
                "`workbook` upload reads every sheet named after an import type.",
            },
        },
        "required": ["import_type", "file"],
        "additionalProperties": False,
    }
    return {"required": True, "content": {"multipart/form-data": {"schema": body}}}


async def read_upload(
    request: Request, limit: int, import_types: list[str], *, page: bool = False
) -> Upload:
    """The upload's fields, checked; 413 past `limit` bytes, 422 for anything but one
    `import_type` of `import_types`, one file and at most one of each other field, each as
    the CLI would take it (and, from a `page`'s form, its `csrf` token)."""
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
            encoding=_encoding(fields.get("encoding")),
            delimiter=_delimiter(fields.get("delimiter")),
            sheet=_sheet(fields.get("sheet")),
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


def _encoding(value: str | UploadFile | None) -> str | None:
    """The encoding's canonical name (`latin-1` is `iso8859-1`), if Python knows it as a text
    encoding, as the CLI's `--encoding` takes it."""
    if value is None:
        return None
    codec = text_codec(value) if isinstance(value, str) else None
    if codec is None:
        raise _invalid(
            "encoding",
            f"unknown encoding {_shown(value)}; name a text encoding, such as utf-8, cp1252, "
            "latin-1 or utf-16",
        )
    return codec.name


def _delimiter(value: str | UploadFile | None) -> str | None:
    """The delimiter as given, if it can separate cells, as the CLI's `--delimiter` takes
    it: one character, but a quote, a line break or NUL; or `tab`, `comma`, `semicolon`."""
    if value is None:
        return None
    if isinstance(value, str) and (
        value.lower() in NAMED_DELIMITERS or (len(value) == 1 and value not in '"\r\n\x00')
    ):
        return value
    raise _invalid(
        "delimiter",
        f"{_shown(value)} cannot separate cells; give one character (not a quote or a line "
        "break), or tab, comma or semicolon",
    )


def _sheet(value: str | UploadFile | None) -> str | None:
    """The sheet's name, as the CLI's `--sheet` takes it (whether the workbook has it, its
    validation says)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > SHEET_LENGTH or "\x00" in value:
        raise _invalid("sheet", f"a sheet's name is text of 1 to {SHEET_LENGTH} characters")
    return value


def _shown(value: str | UploadFile) -> str:
    return repr(value[:50]) if isinstance(value, str) else "a file"


def _invalid(field: str, message: str) -> Problem:
    """422 for one field, its message saying what is wrong with it."""
    details = [{"loc": ["body", field], "msg": message}]
    return Problem(422, "invalid_request", f"{field}: {message}", details)


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
        created = commands.upload_session(
            config.db,
            owner=caller.name,
            import_type=form.import_type,
            file_name=form.file_name,
            content=form.content,
            on_existing=form.on_existing,
            encoding=form.encoding,
            delimiter=form.delimiter,
            sheet=form.sheet,
            limits=config.read_limits,
            remote=caller.remote,
        )
    except TooManyRows as exc:
        raise Problem(413, "too_many_rows", str(exc)) from exc
    config.wake.set()
    return created
