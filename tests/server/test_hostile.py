"""Hostile input against a real `semantik serve`: huge bodies, deep JSON, invalid UTF-8, path
traversal, 10,000 WebSocket subscriptions from one client, and slowloris-style connections. Each
gets a clear answer in the error shape, memory stays bounded, and the server stays up."""

import json
import pathlib
import socket
import time

import httpx

from serving import error, recv, ws_connect


def rss_kib(server):
    status = pathlib.Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def alive(server):
    assert server.http.get("/collections").status_code == 200


def test_bodies_json_and_utf8(server):
    h = server.http
    cid = h.post("/collections", json={"name": "target"}).json()["id"]
    before = rss_kib(server)
    # 100 MB, announced and streamed without a length: refused at the limit, never buffered whole.
    big = b"x" * (100 * 1024 * 1024)
    error(h.post("/collections", content=big), 413, "PayloadTooLarge")

    def chunks():
        for _ in range(100):
            yield b"y" * (1024 * 1024)

    error(h.post(f"/collections/{cid}/search", content=chunks()), 413, "PayloadTooLarge")
    del big
    assert rss_kib(server) - before < 64 * 1024, "the body was not held in memory"

    # JSON nested 100,000 deep, and 10,000 deep where a value is expected: 422, no stack overflow.
    deep = b"[" * 100_000 + b"]" * 100_000
    error(h.post(f"/collections/{cid}/search", content=deep), 422)
    deep_value = b'{"query": "x", "filter": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_000 + b"}"
    error(h.post(f"/collections/{cid}/search", content=deep_value), 422)

    # Invalid UTF-8 in a body and in a path.
    error(h.post("/collections", content=b'{"name": "\xff\xfe"}'), 422)
    error(h.post(f"/collections/{cid}/search", content=b'{"query": "\xc3\x28"}'), 422)
    error(h.get("/collections/%FF%FE"), 404)
    error(h.get(f"/collections/{cid}/documents/%C3%28"), 404)
    # Not JSON at all, and the wrong JSON types.
    error(h.post("/collections", content=b"\x00\x01\x02"), 422)
    error(h.post("/collections", json=["name"]), 422)
    error(h.post(f"/collections/{cid}/search", json={"query": 7}), 422)
    alive(server)


def test_path_traversal_in_paths(server):
    h = server.http
    cid = h.post("/collections", json={"name": "target"}).json()["id"]
    root = server.root
    for path in [
        "/etc/passwd",
        str(root / ".." / ".." / "etc"),
        str(root) + "/../" + root.name + "-sibling",
        "../../../../etc/shadow",
        "appetite.rst.txt",  # relative: not below the root from the server's working directory
        str(root) + "\x00/etc/passwd",
        "~/.ssh",
    ]:
        r = h.post(f"/collections/{cid}/documents", json={"paths": [path]})
        assert r.status_code in (403, 422), (path, r.text)
        error(r, r.status_code)
    # A link inside the root that leads out is refused; one that stays inside is followed.
    (root / "out").symlink_to("/etc")
    error(h.post(f"/collections/{cid}/documents", json={"paths": [str(root / "out")]}), 403, "Forbidden")
    (root / "in").symlink_to(root / "appetite.rst.txt")
    r = h.post(f"/collections/{cid}/documents", json={"paths": [str(root / "in")]})
    assert r.status_code == 202, r.text
    assert server.wait(r.json()["operations"][0])["status"] == "completed"
    docs = h.get(f"/collections/{cid}/documents").json()["documents"]
    assert [d["source"] for d in docs] == [str(root.resolve() / "appetite.rst.txt")]


def test_ten_thousand_subscriptions_from_one_client(server):
    h = server.http
    ids = [h.post("/collections", json={"name": f"c{i}"}).json()["id"] for i in range(3)]
    before = rss_kib(server)
    with ws_connect(server) as ws:
        kinds = {}
        for i in range(10_000):
            target = ids[i % 3] if i % 2 else f"00000000-0000-7000-8000-{i:012d}"
            ws.send(json.dumps({"type": "subscribe_collection", "collection_id": target}))
            kind = recv(ws)["type"]
            kinds[kind] = kinds.get(kind, 0) + 1
        # Every command answered; subscriptions to the same collection held once.
        assert kinds == {"current_state": 5_000, "error": 5_000}, kinds
        ws.send('{"type": "unsubscribe", "collection_id": "%s"}' % ids[0])
        assert recv(ws)["data"]["subscriptions"] == 2
    assert rss_kib(server) - before < 64 * 1024
    alive(server)


def test_slowloris_connections_are_dropped_and_others_served(server):
    host, port = server.url.removeprefix("http://").split(":")
    slow = []
    started = time.monotonic()
    for _ in range(200):
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(b"GET /api/v2/collections HTTP/1.1\r\nHost: x\r\n")  # headers never end
        slow.append(s)
    # Others are served meanwhile.
    t = time.monotonic()
    alive(server)
    assert time.monotonic() - t < 5
    # The trickling ones are closed once the header deadline (10 s) passes.
    time.sleep(max(0.0, started + 11 - time.monotonic()))
    for s in slow:
        s.settimeout(10)
        try:
            while s.recv(4096):  # a 408 answer, if any, then the end
                pass
        except ConnectionResetError:
            pass
        s.close()
    # An idle connection that sends nothing at all is closed too.
    idle = socket.create_connection((host, int(port)), timeout=30)
    t = time.monotonic()
    assert idle.recv(1024) == b""
    assert time.monotonic() - t < 25
    idle.close()
    alive(server)
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/health").json() == {"status": "ok"}


def test_rate_limit_per_credential(tmp_path):
    from serving import finish, start

    s = start(tmp_path, "--rate-limit", "5")
    try:
        t = time.monotonic()
        codes = [s.http.get("/collections") for _ in range(30)]
        refilled = 5 * (time.monotonic() - t)  # the allowance grows back 5 a second
        limited = [r for r in codes if r.status_code == 429]
        assert 10 <= len(codes) - len(limited) <= 10 + refilled + 1, [r.status_code for r in codes]
        error(limited[0], 429, "RateLimited")
        assert int(limited[0].headers["Retry-After"]) >= 1
        # Another credential has its own allowance; the first one's comes back with time.
        s.register(username="other", email="other@example.org", password="other-password")
        other = s.client(s.login("other", "other-password")["access_token"])
        assert other.get("/collections").status_code == 200
        time.sleep(1.2)
        assert s.http.get("/collections").status_code == 200
    finally:
        finish(s, tmp_path)
