"""LangChain's own standard tests for vector stores, run against SemantikVectorStore."""

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

import semantik
from semantik.langchain import SemantikVectorStore


class TestSemantikVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, tmp_path) -> VectorStore:  # type: ignore[override]
        db = semantik.open(str(tmp_path / "db"))
        try:
            yield SemantikVectorStore.create(db, "langchain", embedding=self.get_embeddings())
        finally:
            db.close()


def test_own_model_store(tmp_path):
    """Without LangChain embeddings the collection embeds with semantik's model."""
    with semantik.open(str(tmp_path / "db")) as db:
        store = SemantikVectorStore.create(db, "own")
        ids = store.add_texts(["sled stores the data on disk", "rayon spreads work over cores"], ids=["a", "b"])
        assert ids == ["a", "b"]
        docs = store.similarity_search("where is the data kept?", k=1)
        assert docs[0].id == "a" and docs[0].page_content.startswith("sled")
        scored = store.similarity_search_with_relevance_scores("where is the data kept?", k=2)
        assert 0.0 <= scored[1][1] <= scored[0][1] <= 1.0
        assert len(store.embeddings.embed_query("x")) == 384
        assert [d.id for d in store.get_by_ids(["b"])] == ["b"]
        store.delete(["a"])
        assert [d.id for d in store.similarity_search("data", k=5)] == ["b"]
