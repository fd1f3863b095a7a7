"""Google Drive v3 through google-api-python-client, read-only (implements `DocumentFolder`).

Notes on the library (google-api-python-client 2.x, google-auth 2.x):
- It is synchronous (httplib2): every call runs in a worker thread via `asyncio.to_thread`,
  one at a time per client (an httplib2 connection is not thread-safe).
- The service is built from the discovery document bundled with the library
  (`static_discovery=True`): building it makes no request. The service-account key signs a
  JWT that the key file's `token_uri` trades for an access token on the first call.
- `client_options.api_endpoint` replaces the whole base URL (Google's is
  `https://www.googleapis.com/drive/v3/`); method paths are joined onto it, so it must end
  with a slash.
- `build(credentials=...)` gives an HTTP client with a 60 s timeout that cannot be changed;
  passing an `AuthorizedHttp` over our own `httplib2.Http(timeout=...)` is the same thing
  with our timeout (the token request goes through it too).
- `files.list` gives each file's `version` (int64, sent as a JSON string), which grows with
  every change; `headRevisionId` is only set for binary files, never for Google Docs.
- A Google Doc exported as text/plain starts with a byte-order mark and ends its lines with
  CRLF; both are removed here.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import google_auth_httplib2  # type: ignore[import-untyped]
import httplib2  # type: ignore[import-untyped]
from google.auth import exceptions as auth_errors
from google.oauth2 import service_account
from googleapiclient import errors as api_errors
from googleapiclient.discovery import build

from app.integrations.protocols import DriveDoc, DriveError

DRIVE_READONLY_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
GOOGLE_DOC_MIME = "application/vnd.google-apps.document"
_PAGE_SIZE = 100
_MAX_PAGES = 100  # 10,000 files: a folder this big is a mistake, not a template folder

T = TypeVar("T")


class GoogleDrive:
    """Lists the Google Docs of a folder and exports them as text.

    `credentials_file` is a service-account JSON key (GOOGLE_APPLICATION_CREDENTIALS); the
    folder must be shared with its `client_email`. `api_url` overrides Google's Drive v3
    base URL (GOOGLE_DRIVE_API_URL). Nothing is read or requested until the first call.
    Every failure raises `DriveError`.
    """

    def __init__(
        self, credentials_file: Path, *, api_url: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self._credentials_file = Path(credentials_file)
        self._api_url = api_url.rstrip("/") + "/" if api_url else None
        self._timeout_s = timeout_s
        self._service: Any = None
        self._lock = threading.Lock()

    async def list_docs(self, folder_id: str) -> list[DriveDoc]:
        """The Google Docs directly in `folder_id`, not trashed, every page of them."""
        return await self._call("listing the folder", lambda: self._list_docs(folder_id))

    async def export_text(self, file_id: str) -> str:
        """The Google Doc `file_id` as plain text (LF line ends, no byte-order mark)."""
        return await self._call("exporting a document", lambda: self._export_text(file_id))

    async def aclose(self) -> None:
        """Close the connections (httplib2 keeps them open otherwise). Usable again after."""

        def close() -> None:
            with self._lock:
                if self._service is not None:
                    self._service.close()
                    self._service = None

        await asyncio.to_thread(close)

    # The blocking side, run in a worker thread ---------------------------------------------

    async def _call(self, what: str, work: Callable[[], T]) -> T:
        def guarded() -> T:
            with self._lock:
                try:
                    return work()
                except DriveError:
                    raise
                except api_errors.HttpError as exc:
                    raise DriveError(
                        f"Google Drive answered {exc.status_code} when {what}: "
                        f"{_safe(exc.reason) or 'no reason given'}",
                        status=exc.status_code,
                    ) from exc
                except auth_errors.RefreshError as exc:
                    raise DriveError(
                        "Google refused the service account's access token request: "
                        + _safe(exc.args[0] if exc.args else type(exc).__name__)
                    ) from exc
                except (
                    auth_errors.GoogleAuthError,
                    api_errors.Error,
                    httplib2.HttpLib2Error,
                    http.client.HTTPException,
                    OSError,
                ) as exc:
                    # Timeouts (TimeoutError), refused connections, unknown hosts, TLS.
                    raise DriveError(
                        f"Google Drive unreachable when {what}: {type(exc).__name__}: "
                        f"{_safe(str(exc)) or 'no detail'}"
                    ) from exc

        return await asyncio.to_thread(guarded)

    def _drive(self) -> Any:
        if self._service is None:
            credentials = self._credentials()
            authorized = google_auth_httplib2.AuthorizedHttp(
                credentials, http=httplib2.Http(timeout=self._timeout_s)
            )
            self._service = build(
                "drive",
                "v3",
                http=authorized,
                client_options={"api_endpoint": self._api_url} if self._api_url else None,
                static_discovery=True,
                cache_discovery=False,
            )
        return self._service

    def _credentials(self) -> service_account.Credentials:
        path = self._credentials_file
        load = service_account.Credentials.from_service_account_file
        try:
            credentials: service_account.Credentials = load(  # type: ignore[no-untyped-call]
                str(path), scopes=[DRIVE_READONLY_SCOPE]
            )
        except FileNotFoundError as exc:
            raise DriveError(f"GOOGLE_APPLICATION_CREDENTIALS: no file at {path}") from exc
        except (OSError, ValueError, KeyError, TypeError, auth_errors.GoogleAuthError) as exc:
            # The key's own text never goes into the message.
            raise DriveError(
                f"GOOGLE_APPLICATION_CREDENTIALS: {path} is not a usable service-account key "
                f"file ({type(exc).__name__}: {_safe(str(exc)) or 'unreadable'})"
            ) from exc
        return credentials

    def _list_docs(self, folder_id: str) -> list[DriveDoc]:
        files = self._drive().files()
        query = (
            f"'{_quoted(folder_id)}' in parents and trashed = false"
            f" and mimeType = '{GOOGLE_DOC_MIME}'"
        )
        docs: list[DriveDoc] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            page = files.list(
                q=query,
                fields="nextPageToken, files(id, name, modifiedTime, version)",
                pageSize=_PAGE_SIZE,
                pageToken=token,
                # A folder in a shared drive is listed like one in "My Drive".
                supportsAllDrives=True,
                includeItemsFromAllDrives=True,
            ).execute()
            for item in page.get("files") or []:
                if isinstance(item, dict) and item.get("id"):
                    docs.append(
                        DriveDoc(
                            id=str(item["id"]),
                            name=str(item.get("name") or ""),
                            modified_time=_timestamp(item.get("modifiedTime")),
                            version=_version(item.get("version")),
                        )
                    )
            token = page.get("nextPageToken")
            if not token:
                return docs
        raise DriveError(f"the folder has more than {_PAGE_SIZE * _MAX_PAGES} documents")

    def _export_text(self, file_id: str) -> str:
        content = self._drive().files().export(fileId=file_id, mimeType="text/plain").execute()
        raw = content if isinstance(content, bytes) else str(content).encode()
        text = raw.decode("utf-8-sig", errors="replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")


def _quoted(value: str) -> str:
    """A value inside single quotes in a Drive query."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _version(value: Any) -> int | None:
    # Drive's `version` is an int64, which its JSON carries as a string.
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _safe(text: object) -> str:
    """One short line of an error's text, cut before anything that looks like key material."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    for marker in ("-----BEGIN", "private_key", "assertion="):
        line = line.split(marker, 1)[0]
    return line.strip()[:200]
