"""A LangChain vector store on a semantik collection.

With ``embedding=None`` the collection embeds with its own model (semantik's, in Rust); with
any LangChain ``Embeddings`` the vectors are computed in Python and stored in an
``model="external"`` collection.

>>> import tempfile, semantik
>>> from langchain_core.embeddings import DeterministicFakeEmbedding
>>> db = semantik.open(tempfile.mkdtemp())
>>> store = SemantikVectorStore.create(db, "lc", embedding=DeterministicFakeEmbedding(size=8))
>>> ids = store.add_texts(["foo", "bar"], metadatas=[{"n": 1}, {"n": 2}])
>>> [d.page_content for d in store.similarity_search("bar", k=1)]
['bar']
>>> db.close()
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Callable

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from semantik._semantik import Collection, Database, Hit

__all__ = ["SemantikEmbeddings", "SemantikVectorStore"]


class SemantikEmbeddings(Embeddings):
    """The embedding model of a semantik collection as LangChain ``Embeddings``."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.collection.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.collection.embed([text])[0].tolist()


class SemantikVectorStore(VectorStore):
    """A LangChain ``VectorStore`` backed by a semantik collection."""

    def __init__(self, collection: Collection, embedding: Embeddings | None = None) -> None:
        self.collection = collection
        self._embedding = embedding

    @classmethod
    def create(
        cls,
        db: Database,
        name: str,
        embedding: Embeddings | None = None,
        **collection_args: Any,
    ) -> SemantikVectorStore:
        """Creates collection ``name`` for the store: external vectors of ``embedding``'s
        dimension when one is given, else embedded with semantik's model (``model=`` and the
        other ``Database.create_collection`` arguments apply)."""
        if embedding is not None:
            collection_args.pop("model", None)
            dimension = collection_args.pop("dimension", None) or len(embedding.embed_query("dimension"))
            collection = db.create_collection(name, model="external", dimension=dimension, **collection_args)
        else:
            collection = db.create_collection(name, **collection_args)
        return cls(collection, embedding)

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding if self._embedding is not None else SemantikEmbeddings(self.collection)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        if not texts:
            return []
        ids = [i if i is not None else str(uuid.uuid4()) for i in (ids or [None] * len(texts))]
        metadatas = [dict(m) if m else {} for m in (metadatas or [{}] * len(texts))]
        if self._embedding is not None:
            vectors = self._embedding.embed_documents(texts)
            op = self.collection.add_vectors(ids, vectors, texts=texts, metadatas=metadatas)
        else:
            op = self.collection.add(texts, ids=ids, metadatas=metadatas)
        op.wait()
        return ids

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = kwargs.pop("ids", None)
        if ids is None:
            ids = [doc.id for doc in documents]
        return self.add_texts(
            [doc.page_content for doc in documents],
            [doc.metadata for doc in documents],
            ids=list(ids),
            **kwargs,
        )

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if ids is None:
            ids = [d["id"] for d in self.collection.documents()]
        if ids:
            self.collection.delete(list(ids)).wait()
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [
            Document(page_content=d["text"], metadata=d["metadata"], id=d["id"])
            for d in self.collection.get(list(ids))
        ]

    @staticmethod
    def _document(hit: Hit) -> Document:
        return Document(page_content=hit.text, metadata=hit.metadata, id=hit.document_id)

    def _hits(self, query: str, k: int, filter: dict[str, Any] | None) -> list[Hit]:
        if self._embedding is not None:
            return self.collection.search_by_vector(self._embedding.embed_query(query), limit=k, filter=filter)
        # A document of several chunks answers once, with its best chunk.
        hits = self.collection.search(query, limit=4 * k, filter=filter)
        seen: set[str] = set()
        best = [h for h in hits if not (h.document_id in seen or seen.add(h.document_id))]
        return best[:k]

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        return [self._document(h) for h in self._hits(query, k, filter)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return [(self._document(h), h.score) for h in self._hits(query, k, filter)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        return [self._document(h) for h in self.collection.search_by_vector(embedding, limit=k, filter=filter)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # Scores are cosine similarities in [-1, 1].
        return lambda score: (score + 1.0) / 2.0

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        db: Database | None = None,
        path: str | None = None,
        collection_name: str = "langchain",
        **kwargs: Any,
    ) -> SemantikVectorStore:
        """A store in collection ``collection_name`` of ``db`` (or of the database at ``path``,
        opened for the store's lifetime), filled with ``texts``."""
        if db is None:
            if path is None:
                raise ValueError("from_texts needs db= or path=")
            db = Database(path)
        store = cls.create(db, collection_name, embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store
