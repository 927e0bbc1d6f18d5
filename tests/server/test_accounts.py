"""Accounts and collection permissions of `semantik serve`, through real HTTP and WebSocket
clients: sign-in, rotating refresh tokens, API keys, and the permission matrix (owner, granted
reader and writer, other user, anonymous, API keys in and out of scope, expired key, tampered and
expired access tokens): each endpoint answers as it must, and a collection the caller may not
read is not found rather than forbidden, so its existence is not told."""

import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from serving import error, recv, start, finish, ws_connect

PRIVATE = "private"


def user(server, name):
    server.register(username=name, email=f"{name}@example.org", password=f"{name}-password")
    return server.login(name, f"{name}-password")


def test_sign_in_refresh_logout_and_me(server):
    auth = server.url + "/api/v1/auth"
    error(httpx.post(auth + "/register", json={"username": "admin", "email": "a@b", "password": "long enough"}), 409, "UserExists")
    error(httpx.post(auth + "/register", json={"username": "x", "email": "no-at", "password": "long enough"}), 422)
    error(httpx.post(auth + "/register", json={"username": "x", "email": "x@y", "password": "short"}), 422)
    error(httpx.post(auth + "/login", json={"username": "admin", "password": "wrong password"}), 401, "Unauthenticated")
    error(httpx.post(auth + "/login", json={"username": "nobody", "password": "wrong password"}), 401, "Unauthenticated")

    tokens = user(server, "carol")
    assert tokens["token_type"] == "bearer" and tokens["user"]["is_admin"] is False
    me = httpx.get(auth + "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["username"] == "carol" and "password" not in me.text
    error(httpx.get(auth + "/me"), 401)

    # Refresh tokens rotate: the new pair works, the old refresh token no longer does.
    new = httpx.post(auth + "/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    assert new["refresh_token"] != tokens["refresh_token"]
    error(httpx.post(auth + "/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    assert server.client(new["access_token"]).get("/collections").status_code == 200
    # Logout revokes the refresh token.
    assert httpx.post(auth + "/logout", json={"refresh_token": new["refresh_token"]}).status_code == 200
    error(httpx.post(auth + "/refresh", json={"refresh_token": new["refresh_token"]}), 401)


def test_access_tokens_expire_and_refresh_tokens_renew_them(tmp_path):
    s = start(tmp_path, ACCESS_TOKEN_EXPIRE_MINUTES="0")
    try:
        tokens = s.login("admin", "admin-password")
        time.sleep(1.5)
        r = s.client(tokens["access_token"]).get("/collections")
        error(r, 401, "Unauthenticated")
        assert "Expired" in r.json()["detail"], r.text
        renewed = httpx.post(s.url + "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
        assert s.client(renewed["access_token"]).get("/collections").status_code == 200
    finally:
        finish(s, tmp_path)


def test_permission_matrix(server, tmp_path):
    admin = server.http
    owner_tokens = user(server, "owner")
    owner = server.client(owner_tokens["access_token"])
    c = owner.post("/collections", json={"name": PRIVATE}).json()
    assert c["owner_id"] == owner_tokens["user"]["id"] and c["is_public"] is False
    d = owner.post("/collections", json={"name": "other-of-owner"}).json()
    cid = c["id"]
    for name, permission in [("reader", "read"), ("writer", "write")]:
        user(server, name)
        r = owner.put(f"/collections/{cid}/permissions", json={"username": name, "permission": permission})
        assert r.status_code == 200, r.text
    grants = {g["username"]: g["permission"] for g in owner.get(f"/collections/{cid}/permissions").json()["grants"]}
    assert grants == {"reader": "read", "writer": "write"}

    def key(**spec):
        r = owner.post("/api-keys", json={"name": "k", **spec})
        assert r.status_code == 201, r.text
        return r.json()["secret"]

    secret_in = key(collections=[cid], permission="read")
    secret_out = key(collections=[d["id"]])
    secret_expired = key(expires_in_seconds=1)
    jwt = owner_tokens["access_token"]
    head, payload, signature = jwt.split(".")
    tampered = ".".join([head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    (tmp_path / "elsewhere").mkdir()
    foreign = start(tmp_path / "elsewhere")
    try:
        foreign_jwt = foreign.token  # signed with another database's secret
    finally:
        finish(foreign, tmp_path / "elsewhere")

    time.sleep(1.2)  # the one-second key expires
    actors = {
        "owner": owner,
        "reader": server.client(server.login("reader", "reader-password")["access_token"]),
        "writer": server.client(server.login("writer", "writer-password")["access_token"]),
        "other": server.client(user(server, "other")["access_token"]),
        "anonymous": server.client(),
        "key in scope": server.client(secret_in),
        "key out of scope": server.client(secret_out),
        "expired key": server.client(secret_expired),
        "tampered jwt": server.client(tampered),
        "foreign jwt": server.client(foreign_jwt),
        "admin": admin,
    }
    refused = {"anonymous", "expired key", "tampered jwt", "foreign jwt"}
    path = str(server.root / "appetite.rst.txt")
    # What each endpoint answers each actor: (method, url, body) -> expected status by actor.
    read = {"owner": 200, "reader": 200, "writer": 200, "other": 404, "key in scope": 200,
            "key out of scope": 404, "admin": 200}
    write = {"owner": 202, "reader": 403, "writer": 202, "other": 404, "key in scope": 403,
             "key out of scope": 404, "admin": 202}
    manage = {"owner": 200, "reader": 403, "writer": 403, "other": 404, "key in scope": 403,
              "key out of scope": 404, "admin": 200}
    matrix = [
        ("GET", f"/collections/{cid}", None, read),
        ("GET", f"/collections/{cid}/documents", None, read),
        ("GET", f"/collections/{cid}/operations", None, read),
        ("POST", f"/collections/{cid}/search", {"query": "python", "mode": "keyword"}, read),
        ("POST", "/search", {"query": "python", "collections": [cid], "mode": "keyword"}, read),
        ("POST", f"/collections/{cid}/documents?queue=true", {"paths": [path]}, write),
        ("POST", f"/collections/{cid}/operations/append?queue=true", None, write),
        ("PUT", f"/collections/{cid}", {"description": "changed"}, manage),
        ("GET", f"/collections/{cid}/permissions", None, manage),
    ]
    for method, url, body, expected in matrix:
        for actor, client in actors.items():
            want = 401 if actor in refused else expected[actor]
            r = client.request(method, url, json=body)
            assert r.status_code == want, (actor, method, url, r.status_code, r.text)
            if want == 404:
                # Not found reads the same as for an id that does not exist.
                assert r.json()["error_code"] == "CollectionNotFound", r.text

    # Listings show only what the caller reads.
    def names(actor, path="/collections"):
        return {x["name"] for x in actors[actor].get(path).json()["collections"]}

    assert names("owner") == {PRIVATE, "other-of-owner"} and names("reader") == {PRIVATE}
    assert names("other") == set() and PRIVATE in names("admin")
    ops = owner.get(f"/collections/{cid}/operations").json()["operations"]
    assert ops and actors["other"].get(f"/operations/{ops[0]['id']}").status_code == 404
    assert actors["other"].get("/operations").json()["operations"] == []
    assert actors["reader"].get(f"/operations/{ops[0]['id']}").status_code == 200
    error(actors["reader"].delete(f"/operations/{ops[0]['id']}"), 403, "PermissionDenied")

    # Public: every signed-in user reads it, and only reads.
    assert owner.put(f"/collections/{cid}", json={"is_public": True}).json()["is_public"] is True
    assert actors["other"].get(f"/collections/{cid}").status_code == 200
    error(actors["other"].post(f"/collections/{cid}/operations/append?queue=true"), 403)
    error(actors["anonymous"].get(f"/collections/{cid}"), 401)

    # API keys: managed by their user signed in, never with a key; secrets shown once.
    listed = owner.get("/api-keys").json()["api_keys"]
    assert len(listed) == 3 and all("secret" not in k for k in listed)
    error(actors["key in scope"].get("/api-keys"), 403)
    error(actors["key in scope"].post("/collections", json={"name": "by-key"}), 403)
    scoped = next(k for k in listed if k["collections"] == [cid])
    assert owner.delete(f"/api-keys/{scoped['id']}").status_code == 200
    error(actors["key in scope"].get(f"/collections/{cid}"), 401)
    error(actors["other"].delete(f"/api-keys/{listed[1]['id']}"), 404)

    # The WebSocket: a refused credential closes with 1008; a collection not readable is not found.
    with pytest.raises(ConnectionClosed) as closed:
        with ws_connect(server, token=tampered) as ws:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    with ws_connect(server, token=actors["reader"].headers["Authorization"].split()[1]) as ws:
        ws.send('{"type": "subscribe_collection", "collection_id": "%s"}' % d["id"])
        assert "not found" in recv(ws)["data"]["detail"]
        ws.send('{"type": "subscribe_collection", "collection_id": "%s"}' % cid)
        assert recv(ws)["type"] == "current_state"

    # Deleting is the owner's (or an administrator's); the grants go with the collection.
    error(actors["writer"].delete(f"/collections/{cid}"), 403)
    deleted = owner.delete(f"/collections/{cid}")
    assert deleted.status_code == 202
    assert server.wait(deleted.json())["status"] == "completed"
    error(actors["reader"].get(f"/collections/{cid}"), 404)
