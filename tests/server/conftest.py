import pytest

from serving import finish, start


@pytest.fixture()
def server(tmp_path):
    """A server with accounts, its administrator signed in (`server.http`)."""
    s = start(tmp_path)
    yield s
    finish(s, tmp_path)
