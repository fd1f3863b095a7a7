"""Speech to text through an OpenAI-compatible endpoint.

`POST {base}/audio/transcriptions` as multipart (`file`, `model`, `language`,
`response_format=json`) with `Authorization: Bearer <key>`, answered `{"text": "..."}`:
OpenAI (https://api.openai.com/v1), Groq (https://api.groq.com/openai/v1) and self-hosted
Whisper servers (faster-whisper-server, speaches, LocalAI) all speak it.
"""

from __future__ import annotations

import httpx

from app.integrations.protocols import Transcript, TranscriptionError


class OpenAICompatibleTranscriber:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        *,
        api_key: str | None,
        model: str,
        language: str | None,
        timeout_s: float,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/audio/transcriptions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._language = language
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)

    async def transcribe(self, audio: bytes, *, file_name: str, mimetype: str) -> Transcript:
        data = {"model": self.model, "response_format": "json"}
        if self._language:
            data["language"] = self._language
        try:
            response = await self._http.post(
                self._url,
                headers=self._headers,
                data=data,
                files={"file": (file_name, audio, mimetype)},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise TranscriptionError(f"transcription failed: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise TranscriptionError(f"transcription answered {response.status_code}")
        try:
            text = response.json()["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TranscriptionError("transcription answer has no text") from exc
        if not isinstance(text, str):
            raise TranscriptionError("transcription answer has no text")
        return Transcript(text=text.strip())
