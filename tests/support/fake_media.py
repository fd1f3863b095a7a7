"""A local HTTP fake of the media vendors, speaking their wire formats so the real clients run:

Transcription  OpenAI's `POST /v1/audio/transcriptions` (multipart: file, model, language,
               response_format), `Authorization: Bearer <key>`, answered `{"text": ...}`;
               point TRANSCRIPTION_API_URL at `fake_media.url + "/v1"`.
Supabase       Storage's REST API under `/storage/v1/` as `storage3` calls it
               (storage3/_async/bucket.py, file_api.py): GET/POST `bucket[/{id}]`,
               POST/GET `object/{bucket}/{key}` (upload multipart `file` + `x-upsert`,
               answered `{"Key": "<bucket>/<key>", "Id": ...}`; download), DELETE
               `object/{bucket}` `{"prefixes": [...]}`, POST `object/sign/{bucket}/{key}`
               `{"expiresIn"}` answered `{"signedURL": "/object/sign/<bucket>/<key>?token=.."}`;
               errors as `{"statusCode", "error", "message"}`. Point SUPABASE_URL at
               `fake_media.url`, with SUPABASE_SERVICE_KEY = `fake_media.service_key`.

with FakeMedia() as media:
    media.transcripts.append("tô de plantão sábado")   # the next transcription's text
    media.fail_transcriptions(503)                       # every call answers 503
    media.objects[("julia-media", "1/2.jpg")]             # (bytes, content type)
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.processes import free_port


@dataclass
class Transcription:
    file_name: str | None
    content_type: str | None
    data: bytes
    fields: dict[str, str]
    authorization: str | None


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """(text fields, files as (filename, content type, bytes)) of a multipart body."""
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    uploads: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            uploads[str(name)] = (part.get_filename(), part.get_content_type(), payload)
        else:
            fields[str(name)] = payload.decode()
    return fields, uploads


class FakeMedia:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.api_key = "transcription-key"
        self.service_key = "supabase-service-key"
        self.transcripts: deque[str] = deque()
        self.transcriptions: list[Transcription] = []
        self._transcription_status: int | None = None
        self.transcription_delay = 0.0  # seconds each transcription takes
        self.buckets: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.storage_requests: list[tuple[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/audio/transcriptions", self._transcribe, methods=["POST"]),
                Route("/storage/v1/bucket", self._create_bucket, methods=["POST"]),
                Route("/storage/v1/bucket/{bucket}", self._get_bucket, methods=["GET"]),
                Route("/storage/v1/object/sign/{bucket}/{key:path}", self._sign, methods=["POST"]),
                Route("/storage/v1/object/{bucket}", self._remove, methods=["DELETE"]),
                Route(
                    "/storage/v1/object/{bucket}/{key:path}",
                    self._object,
                    methods=["POST", "GET"],
                ),
            ]
        )
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # Control ------------------------------------------------------------------------------

    def fail_transcriptions(self, status: int | None) -> None:
        """Every transcription answers `status` from now on (None: answer again)."""
        with self._lock:
            self._transcription_status = status

    def reset(self) -> None:
        with self._lock:
            self.transcripts.clear()
            self.transcriptions.clear()
            self._transcription_status = None
            self.transcription_delay = 0.0
            self.buckets.clear()
            self.objects.clear()
            self.storage_requests.clear()

    # Transcription ------------------------------------------------------------------------

    async def _transcribe(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if authorization != f"Bearer {self.api_key}":
            error = {"message": "Incorrect API key provided", "type": "invalid_request_error"}
            return JSONResponse({"error": error}, status_code=401)
        fields, uploads = _multipart(request.headers.get("content-type", ""), await request.body())
        if "file" not in uploads or "model" not in fields:
            error = {"message": "file and model are required", "type": "invalid_request_error"}
            return JSONResponse({"error": error}, status_code=400)
        file_name, content_type, data = uploads["file"]
        with self._lock:
            self.transcriptions.append(
                Transcription(file_name, content_type, data, fields, authorization)
            )
            status = self._transcription_status
            text = self.transcripts.popleft() if self.transcripts else "oi"
            delay = self.transcription_delay
        if delay:
            await asyncio.sleep(delay)
        if status is not None:
            error = {"message": "The server is overloaded", "type": "server_error"}
            return JSONResponse({"error": error}, status_code=status)
        return JSONResponse({"text": text})

    # Supabase Storage ---------------------------------------------------------------------

    @staticmethod
    def _storage_error(status: int, error: str, message: str) -> JSONResponse:
        return JSONResponse(
            {"statusCode": str(status), "error": error, "message": message}, status_code=status
        )

    def _denied(self, request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {self.service_key}":
            return self._storage_error(403, "Unauthorized", "invalid signature")
        with self._lock:
            self.storage_requests.append((request.method, request.url.path))
        return None

    async def _create_bucket(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        body = await request.json()
        with self._lock:
            if body["id"] in self.buckets:
                return self._storage_error(409, "Duplicate", "The resource already exists")
            self.buckets[body["id"]] = {"id": body["id"], "public": bool(body.get("public"))}
        return JSONResponse({"name": body["id"]})

    async def _get_bucket(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        bucket = request.path_params["bucket"]
        with self._lock:
            found = self.buckets.get(bucket)
        if found is None:
            return self._storage_error(404, "Bucket not found", "Bucket not found")
        now = "2026-12-01T12:00:00.000Z"
        return JSONResponse(
            {
                **found,
                "name": found["id"],
                "owner": "",
                "created_at": now,
                "updated_at": now,
                "file_size_limit": None,
                "allowed_mime_types": None,
            }
        )

    async def _object(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        with self._lock:
            known = bucket in self.buckets
        if not known:
            return self._storage_error(404, "Bucket not found", "Bucket not found")
        if request.method == "GET":
            with self._lock:
                stored = self.objects.get((bucket, key))
            if stored is None:
                return self._storage_error(404, "not_found", "Object not found")
            return Response(stored[0], media_type=stored[1])
        _, uploads = _multipart(request.headers.get("content-type", ""), await request.body())
        if "file" not in uploads:
            return self._storage_error(400, "InvalidRequest", "file is required")
        _, content_type, data = uploads["file"]
        with self._lock:
            if (bucket, key) in self.objects and request.headers.get("x-upsert") != "true":
                return self._storage_error(409, "Duplicate", "The resource already exists")
            self.objects[(bucket, key)] = (data, content_type)
        return JSONResponse({"Key": f"{bucket}/{key}", "Id": str(uuid.uuid4())})

    async def _remove(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        bucket = request.path_params["bucket"]
        body = await request.json()
        removed = []
        with self._lock:
            for key in body.get("prefixes", []):
                if self.objects.pop((bucket, key), None) is not None:
                    removed.append({"name": key, "bucket_id": bucket})
        return JSONResponse(removed)

    async def _sign(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        with self._lock:
            exists = (bucket, key) in self.objects
        if not exists:
            return self._storage_error(404, "not_found", "Object not found")
        token = secrets.token_urlsafe(16)
        return JSONResponse({"signedURL": f"/object/sign/{bucket}/{key}?token={token}"})

    # Server -------------------------------------------------------------------------------

    def __enter__(self) -> FakeMedia:
        port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"fake-media-{port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._server.started:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    self.url = f"http://127.0.0.1:{port}"
                    return self
            time.sleep(0.01)
        raise RuntimeError("fake media server did not start")

    def _run(self) -> None:
        assert self._server is not None
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._server.serve())
        finally:
            loop.close()

    def __exit__(self, *exc: object) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
