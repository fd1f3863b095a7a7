"""Where attachments are kept: Supabase Storage (a private bucket) or a local folder.

Supabase is reached through its own storage client (`storage3`, the one the `supabase`
package uses): `POST /storage/v1/object/{bucket}/{key}` to upload (with `x-upsert`),
`GET /storage/v1/object/{bucket}/{key}` to read, `DELETE /storage/v1/object/{bucket}` to
remove, `POST /storage/v1/object/sign/{bucket}/{key}` for a time-limited link. The bucket is
created private on first use when it does not exist.
"""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

import httpx

from app.core.logging import get_logger
from app.integrations.protocols import MediaUnavailable

log = get_logger(__name__)


def _safe_key(key: str) -> str:
    parts = PurePosixPath(key).parts
    if not parts or any(p in ("", ".", "..", "/") for p in parts) or key.startswith("/"):
        raise MediaUnavailable("invalid media key")
    return key


class LocalMediaStore:
    """Files under a folder (JULIA_DATA_DIR/media on the embedded default)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        return self._root / _safe_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(data)
            partial.replace(path)  # a reader never sees half a file

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise MediaUnavailable(f"local store: {type(exc).__name__}") from exc

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except OSError as exc:
            raise MediaUnavailable(f"local store: {type(exc).__name__}") from exc

    async def remove(self, keys: list[str]) -> None:
        def unlink() -> None:
            for key in keys:
                self._path(key).unlink(missing_ok=True)

        try:
            await asyncio.to_thread(unlink)
        except OSError as exc:
            raise MediaUnavailable(f"local store: {type(exc).__name__}") from exc

    async def signed_url(self, key: str, expires_s: int) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


class SupabaseMediaStore:
    """A private bucket in Supabase Storage, authenticated with the service key."""

    name = "supabase"

    def __init__(self, url: str, service_key: str, bucket: str, *, timeout_s: float = 30.0) -> None:
        from storage3 import AsyncStorageClient

        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._client = AsyncStorageClient(
            url.rstrip("/") + "/storage/v1/",
            {"apiKey": service_key, "Authorization": f"Bearer {service_key}"},
            http_client=self._http,
        )
        self._bucket = bucket
        self._ready = False
        self._lock = asyncio.Lock()

    async def _ensure_bucket(self) -> None:
        from storage3.exceptions import StorageApiError

        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            try:
                await self._client.get_bucket(self._bucket)
            except StorageApiError:
                try:
                    await self._client.create_bucket(self._bucket, options={"public": False})
                    log.info("media.bucket_created", bucket=self._bucket)
                except StorageApiError:
                    # Another process created it meanwhile (409), or it cannot be: look again.
                    await self._client.get_bucket(self._bucket)
            self._ready = True

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        from storage3.utils import StorageException

        try:
            await self._ensure_bucket()
            await self._client.from_(self._bucket).upload(
                _safe_key(key), data, {"content-type": content_type, "upsert": "true"}
            )
        except (StorageException, httpx.HTTPError) as exc:
            raise MediaUnavailable(f"supabase storage: {type(exc).__name__}") from exc

    async def get(self, key: str) -> bytes:
        from storage3.utils import StorageException

        try:
            return await self._client.from_(self._bucket).download(_safe_key(key))
        except (StorageException, httpx.HTTPError) as exc:
            raise MediaUnavailable(f"supabase storage: {type(exc).__name__}") from exc

    async def remove(self, keys: list[str]) -> None:
        from storage3.utils import StorageException

        if not keys:
            return
        try:
            await self._client.from_(self._bucket).remove([_safe_key(k) for k in keys])
        except (StorageException, httpx.HTTPError) as exc:
            raise MediaUnavailable(f"supabase storage: {type(exc).__name__}") from exc

    async def signed_url(self, key: str, expires_s: int) -> str | None:
        from storage3.utils import StorageException

        try:
            signed = await self._client.from_(self._bucket).create_signed_url(
                _safe_key(key), expires_s
            )
        except (StorageException, httpx.HTTPError) as exc:
            raise MediaUnavailable(f"supabase storage: {type(exc).__name__}") from exc
        return signed.get("signedURL")

    async def aclose(self) -> None:
        await self._http.aclose()
