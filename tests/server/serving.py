"""A real `semantik serve` process for the tests of this folder, and helpers to check its
answers.

The server is `target/debug/semantik` (built by `make test`) on a free loopback port with one
allowed root holding real files (the Python tutorial's reST sources from the Debian
python3.11-doc package that `make testdata` fetches).
"""

import os
import pathlib
import shutil
import signal
import subprocess
import time

import httpx

ROOT = pathlib.Path(__file__).parents[2]
CLI = pathlib.Path(os.environ.get("SEMANTIK_CLI", ROOT / "target/debug/semantik"))
TUTORIAL = ROOT / ".cache/testdata/html/_sources/tutorial"
FILES = ["appetite.rst.txt", "interpreter.rst.txt", "inputoutput.rst.txt", "errors.rst.txt", "venv.rst.txt"]


ADMIN = {"username": "admin", "email": "admin@example.org", "password": "admin-password"}


class Server:
    """`semantik serve` on a free loopback port. With accounts (the default) the first user,
    the administrator, is registered and signed in: `http` carries its access token."""

    def __init__(self, db, root, *args, auth=True, **settings):
        self.db = db
        env = dict(os.environ, HF_HUB_OFFLINE="1", NO_COLOR="1", **settings)
        flags = [] if auth else ["--no-auth"]
        self.proc = subprocess.Popen(
            [str(CLI), "--db", str(db), "serve", "--bind", "127.0.0.1:0", "--allow-root", str(root), *flags, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), (line, self.proc.stderr.read())
        self.url = "http://" + line.split()[-1]
        self.token = None
        if auth:
            self.register(**ADMIN)
            self.token = self.login(ADMIN["username"], ADMIN["password"])["access_token"]
        self.http = self.client(self.token)

    def client(self, credential=None):
        """An httpx client of the v2 API, sending `credential` (a token or API key) if given."""
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return httpx.Client(base_url=self.url + "/api/v2", timeout=60, headers=headers)

    def register(self, **user):
        r = httpx.post(self.url + "/api/v1/auth/register", json=user, timeout=60)
        assert r.status_code == 201, r.text
        return r.json()

    def login(self, username, password):
        r = httpx.post(self.url + "/api/v1/auth/login", json={"username": username, "password": password}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self):
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        log = self.proc.stderr.read()
        return code, log

    def wait(self, op, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.http.get(f"/operations/{op['id']}").json()
            if info["status"] in ("completed", "failed", "cancelled"):
                return info
            time.sleep(0.1)
        raise AssertionError(f"operation {op['id']} did not end")


def start(tmp_path, *args, **kwargs):
    """A server of a new database in `tmp_path`, whose allowed root holds the tutorial's files."""
    assert CLI.exists(), f"{CLI} is missing: run `make test`, which builds it"
    assert TUTORIAL.is_dir(), "the fetched test data is missing: run `make testdata`"
    root = tmp_path / "docs"
    root.mkdir()
    for name in FILES:
        shutil.copy(TUTORIAL / name, root / name)
    s = Server(tmp_path / "db", root, *args, **kwargs)
    s.root = root
    return s


def finish(s, tmp_path):
    """Stops `s` if it runs (it must exit 0) and verifies its database."""
    if s.proc.poll() is None:
        code, log = s.stop()
        assert code == 0, log
    verified = subprocess.run([str(CLI), "verify", str(tmp_path / "db")], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "error_code", "status_code"} and body["status_code"] == status
    assert body["detail"]
    if code:
        assert body["error_code"] == code, body


def ws_connect(server, token=None):
    """A WebSocket to `/ws`, offering `token` (default: the server's administrator's) as the
    subprotocol `access_token.<jwt>`."""
    from websockets.sync.client import connect

    token = token or server.token
    protocols = [f"access_token.{token}"] if token else None
    return connect(server.url.replace("http://", "ws://") + "/ws", open_timeout=10, subprotocols=protocols)


def recv(ws, timeout=60):
    import json

    return json.loads(ws.recv(timeout=timeout))
