"""The interfaces the domain uses to reach vendors (DESIGN rule 9).

Vendor clients in this package implement them; tests run the real clients against a local
server speaking each vendor's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from app.core.errors import Unavailable

Severity = Literal["info", "warning", "critical"]


SendOutcome = Literal["not_sent", "unknown", "rejected"]


class SendError(Unavailable):
    """A WhatsApp send failed, and what that means for the message:

    - "not_sent": it surely never went out (connection refused, DNS, a proxy's 502/503,
      Evolution's "Connection Closed"): sending again later cannot duplicate it;
    - "unknown": it may have gone (a timeout after the request left, Evolution's "Timed
      Out", anything that cannot be told): never sent again, a doubled message is worse
      than a missing one;
    - "rejected": the provider refused it for good (a number without WhatsApp, a bad
      request): sending again would fail the same way.

    `retryable` is True exactly for "not_sent". Passing only `retryable` (older callers)
    means "not_sent" or "unknown".
    """

    def __init__(
        self,
        message: str,
        *,
        outcome: SendOutcome | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        if outcome is None:
            outcome = "not_sent" if retryable else "unknown"
        self.outcome: SendOutcome = outcome

    @property
    def retryable(self) -> bool:
        return self.outcome == "not_sent"


class MessageSender(Protocol):
    async def send_text(self, instance: str, number: str, text: str) -> str:
        """Send one text; returns the provider's message id."""
        ...

    async def send_presence(self, instance: str, number: str, delay_ms: int) -> None:
        """Show "typing..." to the number for about `delay_ms`."""
        ...


class Embedder(Protocol):
    model: str

    async def embed(
        self, texts: list[str], *, input_type: Literal["document", "query"]
    ) -> list[list[float]]:
        """One vector per text, in order."""
        ...


class Notifier(Protocol):
    async def notify(
        self, text: str, *, kind: str, severity: Severity = "info", thread: str | None = None
    ) -> str | None:
        """Tell the manager (Slack). `thread` is the ts of an earlier notice to answer in,
        when the channel supports threads. Returns the new message's ts when it has one
        (chat.postMessage), else None. Raises on delivery failure; callers decide."""
        ...


class SlackReplier(Protocol):
    async def reply(self, channel: str, thread_ts: str | None, text: str) -> str:
        """Answer in the thread of `thread_ts`; returns the new message's ts. Raises on
        delivery failure."""
        ...


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """A Messages API answer as plain data: content blocks are dicts (`text`, `tool_use`)."""

    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Usage


class LLMUnavailable(Unavailable):
    """The model could not answer (after retries), or the circuit breaker is open."""


class LLM(Protocol):
    async def create(
        self,
        *,
        model: str,
        system: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        max_tokens: int,
    ) -> LLMResponse:
        """One Messages API call. Raises LLMUnavailable when the model cannot answer."""
        ...


@dataclass(frozen=True, slots=True)
class DriveDoc:
    """A Google Doc in a Drive folder: its id, title, last modification and Drive's
    `version` (a number that grows with every change to the file; Docs have no
    headRevisionId)."""

    id: str
    name: str
    modified_time: datetime | None
    version: int | None = None


class DriveError(Unavailable):
    """Google Drive could not be read: credentials, token, HTTP error, timeout. The message
    says what failed and never carries the credentials. `status` is Drive's HTTP status
    when it answered with an error, else None."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DocumentFolder(Protocol):
    async def list_docs(self, folder_id: str) -> list[DriveDoc]:
        """The Google Docs directly in the folder (not trashed). Raises DriveError."""
        ...

    async def export_text(self, file_id: str) -> str:
        """One Google Doc as plain text. Raises DriveError."""
        ...

    async def aclose(self) -> None:
        """Close the connections; the folder is usable again after."""
        ...


class ChatwootError(Unavailable):
    """A Chatwoot API call failed. `status` is Chatwoot's HTTP status when it answered;
    `maybe_done` says the request may have taken effect (a timeout after it left, a 5xx),
    so a create is looked for before it is made again."""

    def __init__(self, message: str, *, status: int | None = None, maybe_done: bool = False):
        super().__init__(message)
        self.status = status
        self.maybe_done = maybe_done


@dataclass(frozen=True, slots=True)
class ChatwootMessage:
    """A Chatwoot message as its list API and its `message_created` webhook describe it."""

    id: int
    conversation_id: int  # the display id
    content: str | None
    message_type: str  # incoming, outgoing, activity, template
    private: bool
    source_id: str | None
    sender_type: str | None  # user, agent_bot, contact (None: no sender)
    sender_id: int | None
    created_at: float | None  # epoch seconds


@dataclass(frozen=True, slots=True)
class ChatwootState:
    status: str  # open, resolved, pending, snoozed
    labels: list[str]


class Chatwoot(Protocol):
    """Chatwoot's Application API for one account and its API-channel inbox. Every call
    raises ChatwootError when Chatwoot cannot answer."""

    inbox_id: int

    async def find_contact(self, *, identifier: str, phone: str) -> int | None: ...

    async def create_contact(
        self, *, name: str, phone: str, identifier: str, attributes: dict[str, Any]
    ) -> int: ...

    async def find_conversation(self, contact_id: int, marker: dict[str, Any]) -> int | None: ...

    async def create_conversation(
        self, contact_id: int, *, status: str, marker: dict[str, Any]
    ) -> int: ...

    async def conversation_state(self, conversation_id: int) -> ChatwootState: ...

    async def set_labels(self, conversation_id: int, labels: list[str]) -> None: ...

    async def set_status(self, conversation_id: int, status: str) -> None: ...

    async def create_message(
        self,
        conversation_id: int,
        *,
        content: str,
        message_type: str,
        private: bool = False,
        source_id: str | None = None,
    ) -> int: ...

    async def list_messages(self, conversation_id: int) -> list[ChatwootMessage]: ...

    async def own_user_id(self) -> int | None: ...


class EvolutionChatwootProbe(Protocol):
    async def chatwoot_enabled(self, instance: str) -> bool:
        """Whether Evolution's own Chatwoot integration is on for `instance`."""


@dataclass(frozen=True, slots=True)
class MediaFile:
    """The bytes of a WhatsApp attachment, with what the provider said they are."""

    data: bytes
    mimetype: str | None
    file_name: str | None = None


class MediaUnavailable(Unavailable):
    """An attachment could not be fetched, stored or read back."""


class MediaSource(Protocol):
    async def fetch_media(self, instance: str, message_id: str) -> MediaFile:
        """The attachment of a received message (Evolution's getBase64FromMediaMessage).
        Raises MediaUnavailable."""
        ...


class MediaStore(Protocol):
    """Where attachments are kept for operators (Supabase Storage or a local folder)."""

    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store (or replace) one file. Raises MediaUnavailable."""
        ...

    async def get(self, key: str) -> bytes:
        """One stored file. Raises MediaUnavailable."""
        ...

    async def remove(self, keys: list[str]) -> None:
        """Delete files; a missing one is not an error. Raises MediaUnavailable."""
        ...

    async def signed_url(self, key: str, expires_s: int) -> str | None:
        """A time-limited link an operator can open, or None when the store has none
        (the local folder: the dashboard API serves the file itself)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str


class TranscriptionError(Unavailable):
    """The speech-to-text endpoint could not transcribe the audio."""


class Transcriber(Protocol):
    model: str

    async def transcribe(self, audio: bytes, *, file_name: str, mimetype: str) -> Transcript:
        """The words spoken in `audio`. Raises TranscriptionError."""
        ...
