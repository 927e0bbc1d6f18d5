"""The REST v2 API of `semantik serve`, through a real HTTP client against a real server process.

The test starts `target/debug/semantik serve` (built by `make test`) on a free loopback port with
one allowed root holding real files (the Python tutorial's reST sources from the Debian
python3.11-doc package that `make testdata` fetches), drives it with httpx, stops it with SIGTERM
and checks that it exits cleanly and leaves a database that verifies.
"""

import os
import pathlib
import subprocess

import httpx

from serving import CLI, FILES, Server, error, recv, ws_connect


def test_settings_come_from_the_old_systems_environment_names(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    s = Server(tmp_path / "db", root, MAX_COLLECTIONS_PER_USER="2", DEFAULT_COLLECTION_NAME="mine")
    try:
        for name in ["a", "b"]:
            assert s.http.post("/collections", json={"name": name}).status_code == 201
        error(s.http.post("/collections", json={"name": "c"}), 409, "LimitExceeded")
        # The limit is per user: another user has its own two.
        s.register(username="bea", email="bea@example.org", password="bea-password")
        bea = s.client(s.login("bea", "bea-password")["access_token"])
        for name in ["c", "d"]:
            assert bea.post("/collections", json={"name": name}).status_code == 201
        error(bea.post("/collections", json={"name": "e"}), 409, "LimitExceeded")
    finally:
        code, log = s.stop()
    assert code == 0, log
    # Without accounts the server binds loopback only.
    refused = subprocess.run([str(CLI), "--db", str(tmp_path / "db"), "serve", "--no-auth", "--bind", "0.0.0.0:0"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "loopback" in refused.stderr


def test_collection_documents_operations_and_search(server):
    h = server.http
    r = h.post("/collections", json={"name": "tutorial", "description": "Python tutorial"})
    assert r.status_code == 201, r.text
    col = r.json()
    assert col["model_name"] == "sentence-transformers/all-MiniLM-L6-v2" and col["model_dimension"] == 384
    cid = col["id"]
    error(h.post("/collections", json={"name": "tutorial"}), 409, "CollectionExists")
    error(h.post("/collections", json={"name": "x", "modle": "m"}), 422)
    h.post("/collections", json={"name": "second"}).raise_for_status()
    page = h.get("/collections", params={"page": 2, "per_page": 1}).json()
    assert page["total"] == 2 and len(page["collections"]) == 1
    assert h.get(f"/collections/{cid}").json()["name"] == "tutorial"
    r = h.put(f"/collections/{cid}", json={"description": "the tutorial", "metadata": {"lang": "en"}})
    assert r.json()["description"] == "the tutorial" and r.json()["metadata"] == {"lang": "en"}

    # Paths: only below the allowed root, links resolved.
    error(h.post(f"/collections/{cid}/documents", json={"paths": ["/etc"]}), 403, "Forbidden")
    error(h.post(f"/collections/{cid}/documents", json={"paths": [str(server.root / ".." / "..")]}), 403)
    (server.root / "link").symlink_to("/etc")
    error(h.post(f"/collections/{cid}/documents", json={"paths": [str(server.root / "link")]}), 403)
    (server.root / "link").unlink()
    r = h.post(f"/collections/{cid}/documents", json={"paths": [str(server.root)]})
    assert r.status_code == 202, r.text
    op = r.json()["operations"][0]
    assert op["kind"] == "index"
    # A write while that operation is active is a conflict unless it asks to queue.
    second = h.post(f"/collections/{cid}/operations/append")
    if second.status_code == 409:
        error(second, 409, "Conflict")
        second = h.post(f"/collections/{cid}/operations/append", params={"queue": "true"})
    assert second.status_code == 202, second.text
    done = server.wait(op)
    assert done["status"] == "completed" and done["progress"]["documents_indexed"] == len(FILES), done
    assert server.wait(second.json())["status"] == "completed"
    assert any(o["id"] == op["id"] for o in h.get("/operations", params={"status": "completed"}).json()["operations"])
    assert h.get(f"/collections/{cid}/operations").json()["operations"]

    docs = h.get(f"/collections/{cid}/documents").json()
    assert docs["total"] == len(FILES)
    assert h.get(f"/collections/{cid}/documents", params={"status": "failed"}).json()["total"] == 0
    doc = next(d for d in docs["documents"] if d["source"].endswith("inputoutput.rst.txt"))
    assert h.get(f"/collections/{cid}/documents/{doc['id']}").json()["id"] == doc["id"]
    content = h.get(f"/collections/{cid}/documents/{doc['id']}/content")
    assert content.headers["content-type"].startswith("text/plain")
    assert content.text == (server.root / "inputoutput.rst.txt").read_text()
    error(h.get(f"/collections/{cid}/documents/nope"), 404, "DocumentNotFound")

    # Search: the core's options, one JSON dialect; scores in [0, 1].
    r = h.post(f"/collections/{cid}/search", json={"query": "reading and writing files", "limit": 3, "max_per_document": 1})
    hits = r.json()["results"]
    assert hits[0]["source"].endswith("inputoutput.rst.txt"), hits[0]
    assert len({x["document_id"] for x in hits}) == len(hits) and all(0 <= x["score"] <= 1 for x in hits)
    r = h.post(f"/collections/{cid}/search", json={"query": "exceptions", "mode": "keyword", "filter": {"lang": "en"}})
    assert r.status_code == 200 and r.json()["results"] == []
    error(h.post(f"/collections/{cid}/search", json={"query": "x", "limitt": 2}), 422, "InvalidArgument")
    # The old system's names: search_type for mode, filters for filter.
    old = h.post(f"/collections/{cid}/search", json={"query": "exceptions", "search_type": "keyword", "limit": 2, "filters": {"lang": "en"}})
    assert old.status_code == 200 and old.json()["results"] == [], old.text
    old = h.post(f"/collections/{cid}/search", json={"query": "exceptions", "search_type": "keyword", "limit": 2})
    assert old.json()["results"][0]["source"].endswith("errors.rst.txt"), old.text
    error(h.post(f"/collections/{cid}/search", json={"query": "x", "search_type": "keyword", "mode": "hybrid"}), 422)
    error(h.post(f"/collections/{cid}/search", json={"limit": 2}), 422)
    error(h.post(f"/collections/{cid}/search", content=b"{not json"), 422)
    multi = h.post("/search", json={"query": "virtual environments", "collections": [cid], "limit": 2}).json()
    assert multi["failures"] == [] and multi["results"][0]["source"].endswith("venv.rst.txt")

    # Unknown ids and endpoints.
    error(h.get("/collections/00000000-0000-7000-8000-000000000000"), 404, "CollectionNotFound")
    error(h.get("/collections/not-an-id"), 404)
    error(h.get("/operations/00000000-0000-7000-8000-000000000000"), 404, "OperationNotFound")
    error(h.post(f"/collections/{cid}/operations/explode"), 404)
    error(h.get("/no/such/endpoint"), 404)

    # Remove a source, then delete the collection.
    r = h.post(f"/collections/{cid}/operations/remove_source", json={"path": str(server.root / "venv.rst.txt")})
    assert server.wait(r.json())["status"] == "completed"
    assert h.get(f"/collections/{cid}/documents").json()["total"] == len(FILES) - 1
    r = h.delete(f"/collections/{cid}")
    assert r.status_code == 202 and server.wait(r.json())["status"] == "completed"
    error(h.get(f"/collections/{cid}"), 404)


def test_cancel_and_a_clean_stop_mid_operation(server):
    h = server.http
    cid = h.post("/collections", json={"name": "c"}).json()["id"]
    op = h.post(f"/collections/{cid}/documents", json={"paths": [str(server.root)]}).json()["operations"][0]
    r = h.delete(f"/operations/{op['id']}")
    assert r.status_code == 202
    assert server.wait(op)["status"] in ("cancelled", "completed")
    # SIGTERM while a reindex runs: the server stops, cancelling it, and exits 0.
    h.post(f"/collections/{cid}/operations/append").raise_for_status()
    reindex = h.post(f"/collections/{cid}/operations/reindex", params={"queue": "true"},
                     json={"chunking": {"unit": "tokens", "max_size": 128, "overlap": 0}})
    assert reindex.status_code == 202, reindex.text
    code, log = server.stop()
    assert code == 0, log
    assert "shut down" in log


def test_websocket_snapshot_then_events_and_reconnect(server):
    h = server.http
    cid = h.post("/collections", json={"name": "live"}).json()["id"]
    with ws_connect(server) as ws:
        ws.send('{"type": "ping"}')
        assert recv(ws)["type"] == "pong"
        ws.send("not json")
        assert recv(ws)["type"] == "error"
        ws.send('{"type": "explode"}')
        assert "unknown command" in recv(ws)["data"]["detail"]
        ws.send('{"type": "subscribe_collection", "collection_id": "%s"}' % cid)
        snap = recv(ws)
        assert snap["type"] == "current_state" and snap["data"]["collection"]["id"] == cid
        assert snap["data"]["active_operations"] == []
        op = h.post(f"/collections/{cid}/documents", json={"paths": [str(server.root)]}).json()["operations"][0]
        seen = []
        while True:
            m = recv(ws)
            assert {"timestamp", "type", "data"} <= set(m), m
            if m["type"] == "missed":
                continue
            assert m["data"]["collection_id"] == cid
            seen.append(m["type"])
            if m["type"] == "operation_completed":
                assert m["data"]["operation_id"] == op["id"]
                break
        assert "operation_started" in seen and "collection_status_changed" in seen, seen
        ws.send('{"type": "unsubscribe", "collection_id": "%s"}' % cid)
        assert recv(ws)["data"]["subscriptions"] == 0
        ws.send('{"type": "subscribe_collection", "collection_id": "00000000-0000-7000-8000-000000000000"}')
        assert "not found" in recv(ws)["data"]["detail"]
        # Subscribing again holds one subscription; subscriptions per connection are bounded.
        for _ in range(3):
            ws.send('{"type": "subscribe_collection", "collection_id": "%s"}' % cid)
            assert recv(ws)["type"] == "current_state"
        ids = [h.post("/collections", json={"name": f"c{i}"}).json()["id"] for i in range(260)]
        answers = []
        for other in ids:
            ws.send('{"type": "subscribe_collection", "collection_id": "%s"}' % other)
            answers.append(recv(ws)["type"])
        assert answers.count("current_state") == 255 and answers.count("error") == 5

    # A client that leaves during an operation and comes back: the snapshot, then the final event.
    op = h.post(f"/collections/{cid}/operations/reindex", json={"chunking": {"unit": "tokens", "max_size": 96, "overlap": 0}}).json()
    with ws_connect(server) as ws:
        ws.send('{"type": "subscribe_operation", "operation_id": "%s"}' % op["id"])
        recv(ws)
    with ws_connect(server) as ws:
        ws.send('{"type": "subscribe_operation", "operation_id": "%s"}' % op["id"])
        snap = recv(ws)
        assert snap["type"] == "current_state" and snap["data"]["operation"]["id"] == op["id"]
        status = snap["data"]["operation"]["status"]
        while status not in ("completed", "failed", "cancelled"):
            m = recv(ws)
            if m["type"].startswith("operation_") and m["type"] != "operation_started":
                status = m["type"].removeprefix("operation_")
        assert status == "completed"


def test_bad_query_strings_are_422_in_the_error_shape(server):
    h = server.http
    error(h.get("/collections", params={"page": "x"}), 422)
    error(h.get("/collections", params={"pages": "1"}), 422)
    error(h.get("/collections", params={"per_page": "1000"}), 422)
    error(h.get("/operations", params={"status": "sleeping"}), 422)
    # A page far past the end (its offset overflows a machine word) is an empty page.
    far = h.get("/collections", params={"page": 1235177886536366592})
    assert far.status_code == 200 and far.json()["collections"] == [], far.text


def test_sigterm_with_a_websocket_open_stops_the_server(server):
    with ws_connect(server) as ws:
        ws.send('{"type": "ping"}')
        assert recv(ws)["type"] == "pong"
        code, log = server.stop()
        assert code == 0, log


def test_openapi_document_and_schemathesis(server, tmp_path):
    """Schemathesis (PyPI) generates requests for every operation of `/openapi.json`: no answer
    is a 5xx, and every answer's status, content type and body conform to the document."""
    import re
    import sys

    doc = httpx.get(server.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.1") and "/api/v2/collections/{id}/search" in doc["paths"]
    server.http.post("/collections", json={"name": "probe"}).raise_for_status()
    st = pathlib.Path(sys.executable).parent / "st"
    run = subprocess.run(
        [str(st), "run", server.url + "/openapi.json", "--checks",
         "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--max-examples", os.environ.get("SCHEMATHESIS_EXAMPLES", "25"), "--workers", "1",
         "--header", f"Authorization: Bearer {server.token}",
         "--suppress-health-check", "all", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache goes there
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    cases = re.search(r"(\d+) generated", out)
    assert cases and int(cases.group(1)) > 100, out[-3000:]
    print(f"SCHEMATHESIS_CASES {cases.group(1)}")


def test_documents_given_whole_and_vector_search(server):
    h = server.http
    vecs = h.post("/collections", json={"name": "vectors", "model_name": "external", "model_dimension": 3})
    assert vecs.status_code == 201, vecs.text
    vid = vecs.json()["id"]
    docs = [
        {"id": "x", "text": "along x", "vector": [1, 0, 0], "metadata": {"axis": "x"}},
        {"id": "y", "text": "along y", "vector": [0, 1, 0], "metadata": {"axis": "y"}},
        {"id": "z", "text": "along z", "vector": [0, 0, 1]},
    ]
    r = h.post(f"/collections/{vid}/documents", json={"documents": docs})
    assert r.status_code == 202, r.text
    assert server.wait(r.json()["operations"][0])["status"] == "completed"
    hits = h.post(f"/collections/{vid}/search", json={"vector": [0.1, 0.9, 0.2], "limit": 2}).json()["results"]
    assert [x["document_id"] for x in hits] == ["y", "z"] and hits[0]["text"] == "along y"
    filtered = h.post(f"/collections/{vid}/search", json={"vector": [0.1, 0.9, 0.2], "filter": {"axis": "x"}}).json()
    assert [x["document_id"] for x in filtered["results"]] == ["x"]
    # Without ids, each vector gets one of its own (never replacing another).
    for _ in range(2):
        r = h.post(f"/collections/{vid}/documents", json={"documents": [{"text": "no id", "vector": [1, 1, 0]}]})
        assert server.wait(r.json()["operations"][0])["status"] == "completed"
    assert h.get(f"/collections/{vid}/documents").json()["total"] == 5
    error(h.post(f"/collections/{vid}/search", json={"vector": [1, 0]}), 422, "DimensionMismatch")
    error(h.post(f"/collections/{vid}/search", json={"vector": "up"}), 422)
    error(h.post(f"/collections/{vid}/search", json={"query": "x", "vector": [1, 0, 0]}), 422)
    error(h.post("/search", json={"vector": [1, 0, 0], "collections": [vid]}), 422)
    error(h.post(f"/collections/{vid}/documents", json={"documents": [{"text": "no vector"}]}), 409, "InvalidState")
    error(h.post(f"/collections/{vid}/documents", json={"documents": [docs[0], {"text": "t"}]}), 422)
    error(h.post(f"/collections/{vid}/documents", json={"documents": []}), 422)
    error(h.post(f"/collections/{vid}/documents", json={"paths": ["/x"], "documents": docs}), 422)

    # In a collection that embeds, texts are embedded by its model.
    tid = h.post("/collections", json={"name": "texts"}).json()["id"]
    r = h.post(f"/collections/{tid}/documents", json={"documents": [
        {"id": "py", "text": "Python is a programming language", "title": "Python"},
        {"text": "The cat sat on the mat", "metadata": {"kind": "animal"}},
    ]})
    assert r.status_code == 202 and server.wait(r.json()["operations"][0])["status"] == "completed"
    hits = h.post(f"/collections/{tid}/search", json={"query": "a language for programs", "limit": 1}).json()["results"]
    assert hits[0]["document_id"] == "py"
    error(h.post(f"/collections/{tid}/documents", json={"documents": [{"text": "t", "vector": [1.0]}]}), 409, "InvalidState")


def test_search_reranked_by_a_cross_encoder(tmp_path):
    """`rerank` names a cross-encoder of semantik's model cache: here the committed tiny
    random-weight XLM-RoBERTa reranker (tests' fixture), beside the real default model."""
    import shutil

    from serving import finish, start

    real = pathlib.Path(os.environ.get("SEMANTIK_CACHE_DIR") or
                        pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "semantik")
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "sentence-transformers").symlink_to(real / "models" / "sentence-transformers")
    fixture = pathlib.Path(__file__).parents[2] / "semantik-core/tests/fixtures/models/xlm_roberta_reranker"
    shutil.copytree(fixture, cache / "models" / "semantik-test" / "tiny-reranker")
    s = start(tmp_path, SEMANTIK_CACHE_DIR=str(cache))
    try:
        h = s.http
        cid = h.post("/collections", json={"name": "tutorial"}).json()["id"]
        op = h.post(f"/collections/{cid}/documents", json={"paths": [str(s.root)]}).json()["operations"][0]
        assert s.wait(op)["status"] == "completed"
        plain = h.post(f"/collections/{cid}/search", json={"query": "reading files", "limit": 4}).json()["results"]
        assert all(x["scores"]["rerank"] is None for x in plain)
        for _ in range(2):  # loaded once, then served from the server's cache
            r = h.post(f"/collections/{cid}/search", json={"query": "reading files", "limit": 4,
                                                          "rerank": "semantik-test/tiny-reranker"})
            assert r.status_code == 200, r.text
            hits = r.json()["results"]
            assert len(hits) == 4 and all(x["scores"]["rerank"] is not None for x in hits)
            ranks = [x["scores"]["rerank"] for x in hits]
            assert ranks == sorted(ranks, reverse=True)
        multi = h.post("/search", json={"query": "reading files", "collections": [cid], "limit": 2,
                                        "rerank": "semantik-test/tiny-reranker"}).json()
        assert all(x["scores"]["rerank"] is not None for x in multi["results"])
        for bad in ["../../etc", "/etc/passwd", "a/b/c", 7]:
            error(h.post(f"/collections/{cid}/search", json={"query": "x", "rerank": bad}), 422)
        error(h.post(f"/collections/{cid}/search", json={"query": "x", "rerank": "nobody/none"}), 422, "ModelNotFound")
    finally:
        finish(s, tmp_path)
