"""Voyage AI embeddings through the official `voyageai` SDK (implements `Embedder`).

Notes on the SDK (voyageai 0.5):
- `AsyncClient(max_retries=n)` means *n attempts in total* (tenacity `stop_after_attempt`), and
  only rate limits (429), 502/503/504 and timeouts are retried. `VoyageEmbedder` takes the usual
  meaning (retries after the first attempt) and passes `max_retries + 1`.
- The SDK asks for `encoding_format: "base64"` and decodes float32 vectors itself.
- It posts to `f"{base_url}/embeddings"` by string concatenation, so a trailing slash on the base
  URL would produce `//embeddings`; it is stripped here.
"""

from __future__ import annotations

from typing import Literal

from voyageai.client_async import AsyncClient

from app.core.errors import Unavailable


class EmbeddingError(Unavailable):
    """Embedding failed (vendor error, timeout, unexpected response).

    The message never contains the API key. `status` is the HTTP status when the vendor
    answered with an error, else None.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class VoyageEmbedder:
    def __init__(
        self,
        api_key: str,
        model: str = "voyage-3.5-lite",
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
    ) -> None:
        if not api_key:
            raise ValueError("VoyageEmbedder needs an API key")
        self.model = model
        self._api_key = api_key
        self._client = AsyncClient(
            api_key=api_key,
            max_retries=max(0, max_retries) + 1,
            timeout=timeout,
            base_url=base_url.rstrip("/") if base_url else None,
        )

    async def embed(
        self, texts: list[str], *, input_type: Literal["document", "query"]
    ) -> list[list[float]]:
        """One vector per text, in order (voyage-3.5-lite: 1024 dimensions by default)."""
        if not texts:
            return []
        try:
            result = await self._client.embed(texts, model=self.model, input_type=input_type)
            vectors = [[float(x) for x in vector] for vector in result.embeddings]
        except Exception as exc:
            status = getattr(exc, "http_status", None)
            raise EmbeddingError(
                self._redact(f"voyage embed failed: {type(exc).__name__}: {exc}"),
                status=status if isinstance(status, int) else None,
            ) from exc
        if len(vectors) != len(texts):
            raise EmbeddingError(f"voyage returned {len(vectors)} vectors for {len(texts)} texts")
        return vectors

    def _redact(self, message: str) -> str:
        return message.replace(self._api_key, "***")
