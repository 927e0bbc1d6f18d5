"""`make bench-server`: semantik's server beside Chroma's (`chroma run`, chromadb from PyPI), on
one machine over loopback, with the same data: the 100,000 real MiniLM vectors of `make
bench-index` with their texts, loaded through each one's HTTP API (HNSW M=16,
ef_construction=200 on both; Chroma's default query settings, semantik's queries with the same
beam, ef = 100; semantik signed in with an access token, Chroma without authentication). Then vector queries from 1, 8
and 32 concurrent clients for SECONDS each (the same Rust client, `benches/server_load.rs`,
for both), and 8 clients searching while one more streams `add` calls. Ends with one JSON line.

    python benches/server_bench.py SEMANTIK_BIN LOAD_BIN DATA_DIR WORK_DIR [SECONDS]
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import chromadb
import httpx
import numpy as np

DIM = 384
BATCH = 250  # vectors per add call while loading (a semantik body is at most 2 MiB)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def texts(data):
    with open(os.path.join(data, "sentences.jsonl")) as f:
        return [json.loads(line) for line, _ in zip(f, range(100_000))]


def start_semantik(binary, work):
    db = os.path.join(work, "semantik-db")
    proc = subprocess.Popen(
        [binary, "--db", db, "serve", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(work, "semantik.log"), "w"), text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    line = proc.stdout.readline()
    assert line.startswith("listening on"), line
    url = "http://" + line.split()[-1]
    user = {"username": "bench", "email": "bench@example.org", "password": "bench-password"}
    httpx.post(url + "/api/v1/auth/register", json=user).raise_for_status()
    login = {"username": user["username"], "password": user["password"]}
    token = httpx.post(url + "/api/v1/auth/login", json=login).json()["access_token"]
    return proc, url, token


def load_semantik(url, token, base, docs):
    h = httpx.Client(base_url=url + "/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=600)
    r = h.post("/collections", json={"name": "bench", "model_name": "external", "model_dimension": DIM})
    r.raise_for_status()
    cid = r.json()["id"]
    t = time.monotonic()
    ops = []
    for start in range(0, len(base), BATCH):
        body = {"documents": [
            {"id": f"v{i}", "text": docs[i], "vector": base[i].tolist()}
            for i in range(start, min(start + BATCH, len(base)))
        ]}
        r = h.post(f"/collections/{cid}/documents", params={"queue": "true"}, json=body)
        r.raise_for_status()
        ops.append(r.json()["operations"][0]["id"])
    for op in ops:
        while (s := h.get(f"/operations/{op}").json()["status"]) not in ("completed", "failed", "cancelled"):
            time.sleep(0.2)
        assert s == "completed", s
    info = h.get(f"/collections/{cid}").json()
    assert info["vector_count"] == len(base), info
    return cid, time.monotonic() - t


def start_chroma(chroma, work):
    port = free_port()
    proc = subprocess.Popen(
        [chroma, "run", "--path", os.path.join(work, "chroma-db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=open(os.path.join(work, "chroma.log"), "w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/api/v2/heartbeat")
    return proc, url


def load_chroma(url, base, docs):
    port = int(url.rsplit(":", 1)[1])
    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    col = client.create_collection(
        "bench",
        configuration={"hnsw": {"space": "cosine", "max_neighbors": 16, "ef_construction": 200}},
    )
    t = time.monotonic()
    step = min(5000, client.get_max_batch_size())
    for start in range(0, len(base), step):
        end = min(start + step, len(base))
        col.add(ids=[f"v{i}" for i in range(start, end)], embeddings=base[start:end], documents=docs[start:end])
    assert col.count() == len(base)
    return col.id, time.monotonic() - t


# semantik's queries walk its graphs with the beam Chroma's default (hnswlib's ef = 100) uses.
SEMANTIK_EF = 100
# Concurrent clients of the query runs.
CLIENTS = (1, 8, 32)


def load(load_bin, kind, url, cid, data, clients, seconds, token=None, writer=False):
    args = [load_bin, kind, url, str(cid), data, str(clients), str(seconds)]
    if kind == "semantik":
        args += ["--ef", str(SEMANTIK_EF)]
    if writer:
        args.append("--writer")
    if token:
        args += ["--token", token]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 300)
    if out.returncode != 0:
        raise SystemExit(f"{kind} load failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main():
    binary, load_bin, data, work = sys.argv[1:5]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
    chroma = os.path.join(os.path.dirname(sys.executable), "chroma")
    base = np.fromfile(os.path.join(data, "base.f32"), dtype="<f4").reshape(-1, DIM)
    docs = texts(data)
    assert len(docs) == len(base) == 100_000

    semantik, s_url, token = start_semantik(binary, work)
    theirs, c_url = start_chroma(chroma, work)
    results = {"semantik": {}, "chroma": {}}
    try:
        s_cid, s_load = load_semantik(s_url, token, base, docs)
        c_cid, c_load = load_chroma(c_url, base, docs)
        print(f"loaded 100,000 vectors: semantik {s_load:.1f} s, chroma {c_load:.1f} s", flush=True)
        for clients in CLIENTS:
            for name, url, cid, tok in (("semantik", s_url, s_cid, token), ("chroma", c_url, c_cid, None)):
                r = load(load_bin, name, url, cid, data, clients, seconds, token=tok)
                results[name][clients] = r
                print(f"{name:8} {clients:2} clients: {r['qps']:8.0f} q/s  p50 {r['p50_ms']:6.2f} ms  "
                      f"p99 {r['p99_ms']:6.2f} ms  recall@10 {r['recall10']:.4f}  errors {r['errors']}", flush=True)
        for name, url, cid, tok in (("semantik", s_url, s_cid, token), ("chroma", c_url, c_cid, None)):
            r = load(load_bin, name, url, cid, data, 8, seconds, token=tok, writer=True)
            results[name]["writer"] = r
            print(f"{name:8}  8 clients + 1 writer: {r['qps']:8.0f} q/s  p99 {r['p99_ms']:6.2f} ms  "
                  f"added {r['added']}  errors {r['errors']}  {r['first_error'] or ''}", flush=True)
    finally:
        stop(semantik)
        stop(theirs)
    s, c = results["semantik"], results["chroma"]
    errors = sum(r["errors"] for side in (s, c) for r in side.values())
    qps = {}
    for n in CLIENTS:
        clients = "1_client" if n == 1 else f"{n}_clients"
        qps[f"qps_ratio_{clients}"] = round(s[n]["qps"] / c[n]["qps"], 3)
        qps[f"semantik_qps_{clients}"] = round(s[n]["qps"], 1)
        qps[f"chroma_qps_{clients}"] = round(c[n]["qps"], 1)
    print(json.dumps({
        **qps,
        "p50_ms_32_clients": round(s[32]["p50_ms"], 2),
        "p99_ms_32_clients": round(s[32]["p99_ms"], 2),
        "chroma_p50_ms_32_clients": round(c[32]["p50_ms"], 2),
        "chroma_p99_ms_32_clients": round(c[32]["p99_ms"], 2),
        "recall10_semantik": round(s[32]["recall10"], 4),
        "recall10_chroma": round(c[32]["recall10"], 4),
        "semantik_qps_8_clients_with_writer": round(s["writer"]["qps"], 1),
        "chroma_qps_8_clients_with_writer": round(c["writer"]["qps"], 1),
        "semantik_added_with_writer": s["writer"]["added"],
        "chroma_added_with_writer": c["writer"]["added"],
        "semantik_load_s": round(s_load, 1),
        "chroma_load_s": round(c_load, 1),
        "errors": errors,
        "semantik_ef": SEMANTIK_EF,
        "seconds_per_run": seconds,
    }))


if __name__ == "__main__":
    main()
