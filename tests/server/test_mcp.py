"""The MCP tools of semantik through the official Python `mcp` client: over streamable HTTP at
`/mcp` of a real `semantik serve` (signed in, each caller seeing what it may read), and over
stdio from `semantik mcp --db`, started by the client as an agent would."""

import asyncio
import json

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

from serving import CLI, FILES


def index(server, name):
    """A collection of the tutorial's files, indexed; its id."""
    cid = server.http.post("/collections", json={"name": name}).json()["id"]
    op = server.http.post(f"/collections/{cid}/documents", json={"paths": [str(server.root)]}).json()["operations"][0]
    assert server.wait(op)["status"] == "completed"
    return cid


async def call(session, tool, **arguments):
    """A tool's answer, decoded; raises with its text if the tool failed."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text
    if result.is_error:
        raise LookupError(text)
    return json.loads(text)


async def over_http(url, token, check):
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as client:
        async with streamable_http_client(url + "/mcp", http_client=client) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                return await check(session)


def test_tools_over_streamable_http(server):
    cid = index(server, "tutorial")
    expected = (server.root / "inputoutput.rst.txt").read_text()

    async def as_admin(session):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == {"list_collections", "search", "get_document"}, "add_source is off by default"
        assert tools["search"].input_schema["required"] == ["query"]
        listed = await call(session, "list_collections")
        assert [c["name"] for c in listed] == ["tutorial"] and listed[0]["documents"] == len(FILES)
        found = await call(session, "search", query="reading and writing files", limit=3)
        hits = found["results"]
        assert len(hits) == 3 and hits[0]["source"].endswith("inputoutput.rst.txt"), hits
        assert all(0 <= h["score"] <= 1 and h["text"] for h in hits)
        keyword = await call(session, "search", query="virtual environment", collections=[cid], mode="keyword", limit=1)
        assert keyword["results"][0]["source"].endswith("venv.rst.txt")
        doc = await call(session, "get_document", collection="tutorial", document_id=hits[0]["document_id"], max_chars=10**7)
        assert doc["text"] == expected and doc["truncated"] is False
        short = await call(session, "get_document", collection=cid, document_id=hits[0]["document_id"], max_chars=100)
        assert short["text"] == expected[:100] and short["truncated"] is True
        for bad in [dict(query=""), dict(query="x", limit=0, colour="red")]:
            try:
                await call(session, "search", **bad)
                raise AssertionError(f"{bad} was accepted")
            except LookupError as e:
                assert "422" in str(e)
        try:
            await call(session, "add_source", collection="tutorial", path=str(server.root))
            raise AssertionError("add_source ran while off")
        except LookupError as e:
            assert "no tool" in str(e)

    asyncio.run(over_http(server.url, server.token, as_admin))

    # Another user sees nothing of a private collection, not even that it exists.
    server.register(username="eve", email="eve@example.org", password="eve-password")
    eve = server.login("eve", "eve-password")["access_token"]

    async def as_other(session):
        assert await call(session, "list_collections") == []
        assert (await call(session, "search", query="files"))["results"] == []
        try:
            await call(session, "search", query="files", collections=["tutorial"])
            raise AssertionError("a private collection was searched")
        except LookupError as e:
            assert "404" in str(e) and "not found" in str(e)

    asyncio.run(over_http(server.url, eve, as_other))

    # No credential, or a bad one: refused before the protocol starts.
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(server.url + "/mcp", json=init, headers=headers).status_code == 401
    bad = dict(headers, Authorization="Bearer not-a-token")
    assert httpx.post(server.url + "/mcp", json=init, headers=bad).status_code == 401


def test_tools_over_stdio_with_add_source(server, tmp_path):
    index(server, "tutorial")
    code, log = server.stop()
    assert code == 0, log
    params = StdioServerParameters(
        command=str(CLI),
        args=["--db", str(server.db), "mcp", "--allow-root", str(server.root), "--allow-add"],
        env={"HF_HUB_OFFLINE": "1"},
    )

    async def run():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                names = {t.name for t in (await session.list_tools()).tools}
                assert names == {"list_collections", "search", "get_document", "add_source"}
                assert [c["name"] for c in await call(session, "list_collections")] == ["tutorial"]
                hits = (await call(session, "search", query="how do I handle exceptions?", limit=2))["results"]
                assert hits[0]["source"].endswith("errors.rst.txt"), hits
                try:
                    await call(session, "add_source", collection="tutorial", path="/etc")
                    raise AssertionError("a path outside the roots was added")
                except LookupError as e:
                    assert "403" in str(e)
                op = await call(session, "add_source", collection="tutorial", path=str(server.root / "venv.rst.txt"))
                assert op["kind"] == "append" and op["status"] in ("pending", "processing", "completed")

    asyncio.run(run())
