"""Smoke tests of the Python bindings through the installed package."""

import subprocess
import sys

import pytest

import semantik


def test_version_and_context_manager(tmp_path):
    assert semantik.version() == semantik.__version__
    with semantik.open(str(tmp_path / "db")) as db:
        col = db.create_collection("notes", model="external", dimension=3, description="mine")
        info = col.info()
        assert info["config"]["name"] == "notes"
        assert info["config"]["dimension"] == 3
        assert info["status"] == "pending"
        assert [c["name"] for c in db.collections()] == ["notes"]
        assert db.collection("notes").id == info["id"] == db["notes"].id
        assert "notes" in db and "other" not in db
    # Closed by the context manager: reopening works and keeps the collection.
    with semantik.open(str(tmp_path / "db")) as db:
        assert [c["name"] for c in db.collections()] == ["notes"]
        db.delete_collection("notes", timeout=30)
        assert db.collections() == []


def test_errors_are_typed_and_carry_codes(tmp_path):
    with semantik.open(str(tmp_path / "db")) as db:
        db.create_collection("a", model="external", dimension=2)
        with pytest.raises(semantik.AlreadyExistsError) as exc:
            db.create_collection("a", model="external", dimension=2)
        assert exc.value.code == 201
        with pytest.raises(LookupError) as exc:
            db.collection("missing")
        assert isinstance(exc.value, semantik.NotFoundError)
        assert exc.value.code == 200
        with pytest.raises(ValueError) as exc:
            db.create_collection("bad/name", model="external", dimension=2)
        assert exc.value.code == 101
        with pytest.raises(semantik.ModelError):
            db.create_collection("m", model="nobody/no-model")
        with pytest.raises(semantik.InvalidArgumentError):
            db.create_collection("e", model="external")
    with pytest.raises(semantik.StateError) as exc:
        db.collections()
    assert exc.value.code == 211


def test_second_process_gets_database_locked(tmp_path):
    path = str(tmp_path / "db")
    with semantik.open(path):
        code = (
            "import semantik, sys\n"
            "try:\n"
            "    semantik.open(sys.argv[1])\n"
            "except semantik.DatabaseLockedError as e:\n"
            "    print(e.code)\n"
        )
        out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "210", out.stderr
    semantik.open(path).close()


def test_not_a_database(tmp_path):
    (tmp_path / "file.txt").write_text("mine")
    with pytest.raises(semantik.StorageError) as exc:
        semantik.open(str(tmp_path))
    assert exc.value.code == 303
