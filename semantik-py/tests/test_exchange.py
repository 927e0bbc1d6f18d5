"""Export to Parquet / Arrow, `to_arrow` and `import_arrow`, read by pyarrow and LanceDB."""

import pathlib

import lancedb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import semantik

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def docs(tmp_path):
    """The project's own documentation, paragraph by paragraph: real text, several hundred chunks."""
    with semantik.open(str(tmp_path / "db")) as db:
        col = db.create_collection("docs", chunking={"unit": "characters", "max_size": 400, "overlap": 0})
        paragraphs = []
        for name in ["README.md", "docs/ARCHITECTURE.md"]:
            text = (ROOT / name).read_text()
            paragraphs += [p for p in text.split("\n\n") if len(p.split()) >= 8]
        ids = [f"p{i}" for i in range(len(paragraphs))]
        metadatas = [{"n": i} for i in range(len(paragraphs))]
        assert col.add(paragraphs, ids=ids, metadatas=metadatas).wait()["status"] == "completed"
        yield db, col, paragraphs


def queries(paragraphs, n=20):
    step = max(1, len(paragraphs) // n)
    return [" ".join(p.split()[:8]) for p in paragraphs[::step][:n]]


def test_to_arrow_and_parquet_hold_fixed_size_vectors_and_the_settings(docs, tmp_path):
    db, col, _ = docs
    chunks = col.stats["chunks"]
    table = col.to_arrow()
    assert table.num_rows == chunks > 100
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 384)
    meta = table.schema.metadata
    assert meta[b"semantik.model"] == b"sentence-transformers/all-MiniLM-L6-v2"
    assert meta[b"semantik.dimension"] == b"384" and meta[b"semantik.metric"] == b"cosine"
    path = tmp_path / "docs.parquet"
    assert col.export(str(path)) == chunks
    read = pq.read_table(path)
    assert read.schema.field("vector").type == pa.list_(pa.float32(), 384)
    assert read.column("chunk_id").to_pylist() == table.column("chunk_id").to_pylist()
    assert read.column("vector").equals(table.column("vector"))
    with pytest.raises(semantik.InvalidArgumentError):
        col.export(str(tmp_path / "x.csv"), format="csv")


def test_the_arrow_c_stream_hands_the_table_over_as_written(docs):
    """`to_arrow` and any Arrow PyCapsule consumer read the collection through the C stream
    interface: the same rows as the file, and each read sees one generation."""
    db, col, paragraphs = docs
    table = col.to_arrow()
    assert pa.table(col).equals(table)  # the collection itself is an Arrow stream
    reader = pa.RecordBatchReader.from_stream(col)
    assert reader.schema.metadata[b"semantik.dimension"] == b"384"
    batches = list(reader)
    assert sum(b.num_rows for b in batches) == table.num_rows and max(b.num_rows for b in batches) <= 2048
    # A stream taken before a write does not see it.
    stream = col.__arrow_c_stream__()
    col.add(["a paragraph written after the stream was taken"], ids=["late"]).wait()
    before = pa.RecordBatchReader._import_from_c_capsule(stream).read_all()
    assert before.num_rows == table.num_rows
    assert "late" not in before.column("document_id").to_pylist()
    assert "late" in col.to_arrow().column("document_id").to_pylist()


def test_lancedb_reads_the_export_and_finds_the_same_exact_top_10(docs, tmp_path):
    db, col, paragraphs = docs
    path = tmp_path / "docs.parquet"
    col.export(str(path))
    lance = lancedb.connect(str(tmp_path / "lance"))
    table = lance.create_table("docs", data=pq.read_table(path))
    assert table.count_rows() == col.stats["chunks"]
    for query in queries(paragraphs):
        vector = col.embed([query])[0]
        ours = [h.chunk_id for h in col.search_by_vector(vector, limit=10, exact=True)]
        found = table.search(vector).distance_type("cosine").limit(10).select(["chunk_id"]).to_list()
        assert [row["chunk_id"] for row in found] == ours, query


def test_import_arrow_and_import_file_answer_as_the_source(docs, tmp_path):
    db, col, paragraphs = docs
    path = tmp_path / "docs.arrow"
    col.export(str(path), format="arrow")
    copies = [db.import_file(str(path), "from-file"), semantik.import_arrow(db, col.to_arrow(), "from-table")]
    for query in queries(paragraphs):
        for mode in ["semantic", "keyword", "hybrid"]:
            want = [(h.chunk_id, h.score) for h in col.search(query, mode=mode, exact=True)]
            for copy in copies:
                assert [(h.chunk_id, h.score) for h in copy.search(query, mode=mode, exact=True)] == want
    with pytest.raises(semantik.AlreadyExistsError):
        db.import_file(str(path), "docs")
    with pytest.raises(semantik.NotFoundError):
        db.import_file(str(tmp_path / "missing.parquet"), "x")
