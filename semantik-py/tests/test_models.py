"""Models from a Hub, with Python's own Hugging Face tools on the same cache: a model semantik
downloaded is found by `huggingface_hub` offline, and one `huggingface_hub` downloaded is used
by semantik offline. The Hub is a local server this test starts (never the real one)."""

from __future__ import annotations

import hashlib
import http.server
import os
import pathlib
import threading
from collections.abc import Iterator

import pytest

import semantik

FIXTURE = pathlib.Path(__file__).parents[2] / "semantik-core/tests/fixtures/models/bert"
COMMIT = "c0ffee" + "0" * 34


def _files() -> dict[str, bytes]:
    return {
        str(p.relative_to(FIXTURE)): p.read_bytes()
        for p in FIXTURE.rglob("*")
        if p.is_file() and p.name != "reference.json"
    }


def _etag(data: bytes) -> str:
    if len(data) > 10_000:  # served like Git LFS files: sha256
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Hub(http.server.BaseHTTPRequestHandler):
    """`/{org}/{name}/resolve/{revision}/{path}` with the Hub's headers, HEAD and ranged GET."""

    files: dict[str, bytes] = {}
    requests: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        parts = self.path.split("?")[0].lstrip("/").split("/", 4)
        if len(parts) < 5 or parts[2] != "resolve" or parts[3] not in ("main", COMMIT):
            self.send_response(404)
            self.send_header("X-Error-Code", "RevisionNotFound")
            self.end_headers()
            return
        data = self.files.get(parts[4])
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            return
        start, end = 0, len(data) - 1
        ranged = self.headers.get("Range", "").startswith("bytes=")
        if ranged:
            a, _, b = self.headers["Range"][6:].partition("-")
            start, end = int(a or 0), min(int(b) if b else len(data) - 1, len(data) - 1)
        self.send_response(206 if ranged else 200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{_etag(data)}"')
        if len(data) > 10_000:
            self.send_header("X-Linked-Etag", f'"{_etag(data)}"')
            self.send_header("X-Linked-Size", str(len(data)))
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if body:
            self.wfile.write(data[start : end + 1])

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> Iterator[str]:
    _Hub.files = _files()
    _Hub.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    try:
        yield url
    finally:
        server.shutdown()


NEEDED = ["config.json", "tokenizer.json", "modules.json", "model.safetensors"]


def test_semantik_downloads_what_huggingface_hub_then_finds_offline(
    hub: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    shown: list[dict] = []
    with semantik.open(str(tmp_path / "db"), offline=False) as db:
        found = db.fetch_model("org/tiny", None, shown.append)
        assert found["revision"] == COMMIT
        assert any(p["file"] == "model.safetensors" and p["done"] for p in shown)
        col = db.create_collection("c", model="org/tiny", model_precision="int8")
        info = db.collections()[0]
        assert info["config"]["model_revision"] == COMMIT
        assert info["config"]["model_precision"] == "int8"
        col.add(["a passage about files", "another about networks"]).wait()
        assert len(col.search("files", limit=1)) == 1
    # Python's own tool, offline, finds each file in the cache semantik wrote.
    from huggingface_hub import hf_hub_download

    for name in NEEDED:
        path = hf_hub_download(
            "org/tiny", name, cache_dir=tmp_path / "hf/hub", local_files_only=True
        )
        assert pathlib.Path(path).read_bytes() == _Hub.files[name]


def test_a_model_huggingface_hub_downloaded_is_used_offline(
    hub: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants
    from huggingface_hub import hf_hub_download

    # huggingface_hub read its environment when imported: switch it online here.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for name in [*NEEDED, "1_Pooling/config.json", "2_Dense/config.json",
                 "2_Dense/model.safetensors", "sentence_bert_config.json",
                 "config_sentence_transformers.json"]:
        hf_hub_download("org/tiny", name, cache_dir=tmp_path / "hf/hub", endpoint=hub)
    before = len(_Hub.requests)
    with semantik.open(str(tmp_path / "db"), offline=True) as db:
        col = db.create_collection("c", model="org/tiny")
        assert db.collections()[0]["config"]["model_revision"] == COMMIT
        assert col.embed(["hello"]).shape == (1, 24)
    assert len(_Hub.requests) == before, "semantik asked the Hub nothing"


def test_offline_a_missing_model_is_a_model_error(tmp_path: pathlib.Path) -> None:
    with semantik.open(str(tmp_path / "db"), offline=True) as db:
        with pytest.raises(semantik.ModelError) as e:
            db.create_collection("c", model="nobody/absent-model")
        assert e.value.code == 400
        assert "HF_HUB_OFFLINE" in str(e.value)
        with pytest.raises(semantik.InvalidArgumentError):
            db.create_collection("c", model="org/m", model_precision="int4")
        assert db.collections() == []
