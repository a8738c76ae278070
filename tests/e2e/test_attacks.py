"""Issue 12's attacks replayed against `batchport serve` (uvicorn) on loopback, PostgreSQL:
each with a bounded number of requests, each asserting the outcome that closes it."""

from __future__ import annotations

import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from batchport import BUILTIN_TYPES, Database, commands
from tests.helpers import Server, whitespace_bomb

pytestmark = pytest.mark.slow

CSV = "code,name,parent_code\nHQ,Headquarters,\nFIN,Finance,HQ\n"


def rss_mb(pid: int) -> float:
    """A process's resident memory now (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def audit(url: str) -> list[dict]:
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    try:
        return commands.audit_log(db, limit=1000)
    finally:
        db.dispose()


def test_no_byte_of_an_unauthenticated_upload_is_stored(served, tmp_path):
    """A chunked 64 MiB upload without a token is answered 401 before its body is read: the
    server's temporary folder holds nothing at any point, and its memory does not grow."""
    url, token = served
    spool = tmp_path / "server-tmp"
    spool.mkdir()
    server = Server(url, token, env={"TMPDIR": str(spool)})
    seen = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen[0] = max(seen[0], bytes_under(spool))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    before = rss_mb(server.process.pid)
    try:
        status = _post_chunks(server.port, total=64 << 20, token=None)
    finally:
        stop.set()
        watcher.join()
    grown = rss_mb(server.process.pid) - before
    server.stop()
    assert status == 401
    assert seen[0] == 0
    assert grown < 50, f"the server grew by {grown:.0f} MB"


def test_an_oversized_chunked_upload_is_cut_at_the_limit(served):
    """With a valid token, a chunked body past the limit (no Content-Length to refuse it by)
    is answered 413 once the limit is passed, not after the whole body."""
    url, token = served
    server = Server(url, token)
    try:
        status = _post_chunks(server.port, total=200 << 20, token=token)
        assert status == 413
        [refused] = [e for e in audit(url) if e["action"] == "upload"]
        assert refused["outcome"] == "refused" and refused["detail"].startswith("POST /sessions")
    finally:
        server.stop()


def _post_chunks(port: int, *, total: int, token: str | None) -> int:
    """Sends a chunked multipart upload of `total` bytes (stopping when the server answers or
    closes); returns the status it answered with."""
    boundary = "bp-attack"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="import_type"\r\n\r\n'
        f'departments\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\ncode,name\r\n'
    ).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (
        f"POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"A,a\r\n" * (1 << 16)  # 320 KiB of rows
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request + _chunk(head))
        sent = 0
        while sent < total and not select.select([conn], [], [], 0)[0]:
            try:
                conn.sendall(_chunk(chunk))
            except OSError:  # the server answered and closed: read its answer
                break
            sent += len(chunk)
        answer = conn.recv(4096)
    assert sent < total, "the server read the whole body before answering"
    return int(answer.split(b" ", 2)[1])


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_proxy_headers_are_not_trusted_unless_allowed(pg):
    """By default the address audited is the connection's, whatever X-Forwarded-For says;
    with --forwarded-allow-ips, a 150-character header is recorded cut, and the upload,
    commit and rollback it came with all happen, each with its audit row."""
    url, token = pg
    plain = Server(url, token)
    try:
        plain.client.get(
            "/jobs", headers={"Authorization": "Bearer bp_x_y", "X-Forwarded-For": "6.6.6.6"}
        )
    finally:
        plain.stop()
    [denied] = [e for e in audit(url) if e["action"] == "authenticate"]
    assert denied["remote"] == "127.0.0.1"

    forwarded = {"X-Forwarded-For": "203.0.113.7" + " " * 40 + "x" * 100}
    proxied = Server(url, token, "--forwarded-allow-ips", "127.0.0.1")
    try:
        failed = proxied.client.get("/jobs", headers={**forwarded, "Authorization": "Bearer x"})
        assert failed.status_code == 401
        proxied.client.headers.update(forwarded)
        session = proxied.upload(CSV)
        proxied.wait(session["id"], "valid")
        assert proxied.client.post(f"/sessions/{session['id']}/commit").status_code == 202
        done = proxied.wait(session["id"], "committed", "failed")
        undone = proxied.roll_back(done["batch_id"])
        assert undone["status"] == "rolled_back", undone["error"]
    finally:
        proxied.stop()
    logged = {e["action"]: e for e in audit(url) if e["actor"] in {"alice", None}}
    assert {"authenticate", "upload", "commit", "import", "rollback_request"} <= set(logged)
    assert "rollback" in logged
    assert all(len(e["remote"] or "") <= 100 for e in logged.values())
    assert logged["upload"]["remote"] != "127.0.0.1"


def test_throttled_tokens_revocation_headers_over_http(served):
    """Over real HTTP: eleven bad tokens from one address get 429 with Retry-After; a
    disabled account's token is refused at once; every answer carries the security
    headers."""
    url, token = served
    server = Server(url, token)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as anonymous:
            codes = [
                anonymous.get("/jobs", headers={"Authorization": f"Bearer bp_{i}_x"}).status_code
                for i in range(11)
            ]
            assert codes == [401] * 10 + [429]
            throttled = anonymous.get("/jobs")
            assert throttled.headers["Retry-After"].isdigit()
            assert throttled.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.stop()
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    try:
        commands.set_account_disabled(db, "alice", True, actor="root")
    finally:
        db.dispose()
    again = Server(url, token)
    try:
        assert again.client.get("/jobs").status_code == 401
    finally:
        again.stop()


def test_a_page_of_half_a_million_errors_is_small(pg):
    """A session with 500,000 errors (two per row of a 250,000-row file) pages them from the
    database: eight concurrent requests for a page each get their one error, and the server's
    memory stays within 100 MB (it grew by about 800 MB a request before). How fast a page
    answers is for a benchmark to say, not a timed test on a shared machine."""
    url, token = pg
    server = Server(url, token)
    try:
        text = "code,name,parent_code\n" + "".join(f"C{i},,=x{i}\n" for i in range(250_000))
        session = server.upload(text)
        invalid = server.wait(session["id"], "invalid", "failed")
        assert invalid["error_count"] == 500_000, invalid["message"]
        before = rss_mb(server.process.pid)

        def page(offset: int) -> tuple[int, dict]:
            answer = server.client.get(
                f"/sessions/{session['id']}/errors", params={"offset": offset, "limit": 1}
            )
            return answer.status_code, answer.json()

        with ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(page, [0, 1, 250_000, 499_999] * 2))
        grown = rss_mb(server.process.pid) - before
    finally:
        server.stop()
    assert [status for status, _ in pages] == [200] * 8
    assert all(body["total"] == 500_000 and len(body["errors"]) == 1 for _, body in pages)
    assert pages[3][1]["errors"][0]["row"] == 250_001
    # Eight threads at once cost some arenas (54 MB seen under CI's load); reading the errors
    # whole cost about 800 MB a request before they were rows.
    assert grown < 100, f"the server grew by {grown:.0f} MB"


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> bytes:
    """A 2 MB workbook whose sheet unpacks to 1.9 GB of spaces (under the 2 GiB limit)."""
    return whitespace_bomb(tmp_path_factory.mktemp("bomb") / "bomb.xlsx", 1900).read_bytes()


def test_workbook_bombs_leave_the_server_standing(served, bomb):
    """Three uploads at once of a 1 MB workbook whose sheet unpacks to 1.9 GB are each
    refused (413 at upload or an invalid session), and the server's memory grows by less
    than 300 MB meanwhile; it goes on serving."""
    url, token = served
    server = Server(url, token)
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(server.process.pid))
            time.sleep(0.01)

    before = rss_mb(server.process.pid)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:

        def send(_: int) -> dict:
            answer = server.client.post(
                "/sessions",
                data={"import_type": "departments"},
                files={"file": ("bomb.xlsx", bomb, "application/octet-stream")},
            )
            assert answer.status_code == 201, answer.text
            return server.wait(answer.json()["id"], "invalid", "failed", "valid")

        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(send, range(3)))
        assert server.client.get("/health").status_code == 200
    finally:
        stop.set()
        watcher.join()
        server.stop()
    assert {o["status"] for o in outcomes} == {"failed"}, [o["message"] for o in outcomes]
    assert all("more than the limit" in o["message"] for o in outcomes)
    assert peak[0] - before < 300, f"the server grew by {peak[0] - before:.0f} MB"
