"""A local Chatwoot: the Application API calls Julia makes, answered in Chatwoot's shapes,
and the webhooks Chatwoot would post for what happens in it.

A real HTTP server on 127.0.0.1 (uvicorn in a thread), so Julia's real httpx client talks to
it. Shapes, from chatwoot/chatwoot:
- contacts: controllers/api/v1/accounts/contacts_controller.rb, views .../contacts/
  create.json.jbuilder (`{"payload": {"contact", "contact_inbox"}}`), search (`{"meta",
  "payload": [...]}`), contacts/conversations (`{"payload": [...]}`);
- conversations: conversations_controller.rb (`create` with inbox_id + contact_id,
  `toggle_status` answering `{"meta": {}, "payload": {"success", "current_status",
  "conversation_id"}}`, and `handle_human_open`: opening as an agent assigns them);
- messages: messages/index.json.jbuilder (message_type as an integer, `source_id`,
  `sender` push data with `type`), builders/messages/message_builder.rb (`source_id` kept);
- webhooks: listeners/webhook_listener.rb (`message_created` = Message#webhook_data with
  `event`; `conversation_updated` / `conversation_status_changed` = the conversation's push
  data + `changed_attributes` as listeners/base_listener.rb builds them), signed as
  lib/webhooks/trigger.rb does since chatwoot#13573 (`X-Chatwoot-Timestamp`,
  `X-Chatwoot-Signature: sha256=HMAC(secret, "{ts}.{body}")`, `X-Chatwoot-Delivery`).

    fake.down(503) / fake.up()             every API call answers 503 until up()
    fake.lose_answers(times)               the next message creates happen, then answer 503
    fake.agent_writes(conversation, text)  an agent's reply; its webhook joins `fake.outbox`
    fake.resolve(conversation), fake.add_label / remove_label(conversation, label),
    fake.assign(conversation, agent)
    fake.signed(payload, secret)           (body, headers) as Chatwoot posts it
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.processes import free_port

API_KEY = "cw-access-token-test"
ACCOUNT_ID = 1
INBOX_ID = 7
# The user behind API_KEY (Julia's integration user) and a human agent.
JULIA_USER = {"id": 1, "name": "Julia (integração)", "type": "user"}
AGENT = {"id": 42, "name": "Carla", "type": "user"}
_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}


@dataclass
class Contact:
    id: int
    name: str
    phone_number: str
    identifier: str | None
    additional_attributes: dict[str, Any]


@dataclass
class Message:
    id: int
    conversation_id: int
    content: str
    message_type: str
    private: bool
    source_id: str | None
    sender: dict[str, Any]
    created_at: float


@dataclass
class Conversation:
    id: int
    contact_id: int
    inbox_id: int
    status: str
    additional_attributes: dict[str, Any]
    labels: list[str] = field(default_factory=list)
    assignee: dict[str, Any] | None = None


class FakeChatwoot:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=self._routes())
        self.reset()

    # Control ---------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.contacts: dict[int, Contact] = {}
            self.conversations: dict[int, Conversation] = {}
            self.messages: list[Message] = []
            self.outbox: list[dict[str, Any]] = []  # webhooks Chatwoot would post
            self.requests: list[tuple[str, str]] = []
            self._down: int | None = None
            self._lose = 0
            self._ids = iter(range(1000, 1_000_000))

    def down(self, status: int = 503) -> None:
        with self._lock:
            self._down = status

    def up(self) -> None:
        with self._lock:
            self._down = None

    def lose_answers(self, times: int = 1) -> None:
        """The next `times` message creates are made, then answered 503 (a lost answer)."""
        with self._lock:
            self._lose = times

    def messages_in(self, conversation_id: int) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.conversation_id == conversation_id]

    def conversation_of(self, phone: str) -> Conversation | None:
        with self._lock:
            contact = next(
                (c for c in self.contacts.values() if c.phone_number == f"+{phone}"), None
            )
            if contact is None:
                return None
            return next(
                (c for c in self.conversations.values() if c.contact_id == contact.id), None
            )

    def agent_writes(self, conversation_id: int, text: str, *, private: bool = False) -> int:
        """An agent replies in Chatwoot's UI; returns the message id."""
        with self._lock:
            message = self._add_message(conversation_id, text, "outgoing", private, None, AGENT)
            conversation = self.conversations[conversation_id]
            if conversation.status == "resolved":
                conversation.status = "open"
        return message.id

    def resolve(self, conversation_id: int) -> None:
        with self._lock:
            self._set_status(conversation_id, "resolved")

    def add_label(self, conversation_id: int, label: str) -> None:
        with self._lock:
            conversation = self.conversations[conversation_id]
            self._set_labels(conversation, [*conversation.labels, label])

    def assign(self, conversation_id: int, agent: dict[str, Any]) -> None:
        """An operator assigns the conversation (conversation_updated, assignee_id)."""
        with self._lock:
            conversation = self.conversations[conversation_id]
            previous = conversation.assignee["id"] if conversation.assignee else None
            conversation.assignee = agent
            self.outbox.append(
                self._conversation_push(conversation)
                | {
                    "event": "conversation_updated",
                    "changed_attributes": [
                        {"assignee_id": {"previous_value": previous, "current_value": agent["id"]}}
                    ],
                }
            )

    def remove_label(self, conversation_id: int, label: str) -> None:
        with self._lock:
            conversation = self.conversations[conversation_id]
            self._set_labels(conversation, [x for x in conversation.labels if x != label])

    def take_outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            taken, self.outbox = self.outbox, []
            return taken

    @staticmethod
    def signed(
        payload: dict[str, Any], secret: str, *, at: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        timestamp = str(int(time.time() if at is None else at))
        digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        return body, {
            "Content-Type": "application/json",
            "X-Chatwoot-Timestamp": timestamp,
            "X-Chatwoot-Signature": f"sha256={digest.hexdigest()}",
            "X-Chatwoot-Delivery": str(uuid.uuid4()),
        }

    # Server ----------------------------------------------------------------------------

    def __enter__(self) -> FakeChatwoot:
        port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-chatwoot")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Chatwoot did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def _run(self) -> None:
        assert self._server is not None
        loop = asyncio.new_event_loop()
        try:
            with contextlib.suppress(SystemExit):
                loop.run_until_complete(self._server.serve())
        finally:
            loop.close()

    # Chatwoot's state changes and the webhooks they fire (call with the lock held) ------

    def _add_message(
        self,
        conversation_id: int,
        content: str,
        message_type: str,
        private: bool,
        source_id: str | None,
        sender: dict[str, Any],
    ) -> Message:
        message = Message(
            next(self._ids),
            conversation_id,
            content,
            message_type,
            private,
            source_id,
            sender,
            time.time(),
        )
        self.messages.append(message)
        self.outbox.append(self._message_webhook(message))
        return message

    def _set_status(self, conversation_id: int, status: str) -> None:
        conversation = self.conversations[conversation_id]
        previous, conversation.status = conversation.status, status
        if previous != status:
            self.outbox.append(
                self._conversation_push(conversation)
                | {
                    "event": "conversation_status_changed",
                    "changed_attributes": [
                        {"status": {"previous_value": previous, "current_value": status}}
                    ],
                }
            )

    def _set_labels(self, conversation: Conversation, labels: list[str]) -> None:
        previous, conversation.labels = conversation.labels, labels
        if previous != labels:
            self.outbox.append(
                self._conversation_push(conversation)
                | {
                    "event": "conversation_updated",
                    "changed_attributes": [
                        {
                            "cached_label_list": {
                                "previous_value": ", ".join(previous),
                                "current_value": ", ".join(labels),
                            }
                        }
                    ],
                }
            )

    def _message_webhook(self, message: Message) -> dict[str, Any]:
        # Message#webhook_data, with `event` merged by WebhookListener#message_created.
        conversation = self.conversations[message.conversation_id]
        return {
            "event": "message_created",
            "id": message.id,
            "content": message.content,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(message.created_at)),
            "message_type": message.message_type,
            "content_type": "text",
            "content_attributes": {},
            "source_id": message.source_id,
            "private": message.private,
            "sender": message.sender,
            "inbox": {"id": conversation.inbox_id, "name": "Julia"},
            "conversation": self._conversation_push(conversation),
            "account": {"id": ACCOUNT_ID, "name": "Revoluna"},
        }

    def _conversation_push(self, conversation: Conversation) -> dict[str, Any]:
        # Conversations::EventDataPresenter#push_data (the parts Julia reads, and some).
        contact = self.contacts[conversation.contact_id]
        return {
            "id": conversation.id,
            "inbox_id": conversation.inbox_id,
            "status": conversation.status,
            "labels": list(conversation.labels),
            "additional_attributes": conversation.additional_attributes,
            "channel": "Channel::Api",
            "can_reply": True,
            "meta": {
                "sender": {"id": contact.id, "name": contact.name, "type": "contact"},
                "assignee": conversation.assignee,
            },
            "timestamp": int(time.time()),
        }

    def _list_item(self, message: Message) -> dict[str, Any]:
        return {
            "id": message.id,
            "content": message.content,
            "inbox_id": INBOX_ID,
            "conversation_id": message.conversation_id,
            "message_type": _TYPES[message.message_type],
            "created_at": int(message.created_at),
            "private": message.private,
            "source_id": message.source_id,
            "sender": message.sender,
        }

    # Routes ----------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        acc = "/api/v1/accounts/{account_id:int}"
        conv = acc + "/conversations/{cid:int}"
        return [
            Route("/api/v1/profile", self._profile, methods=["GET"]),
            Route(acc + "/contacts/search", self._search, methods=["GET"]),
            Route(acc + "/contacts", self._create_contact, methods=["POST"]),
            Route(
                acc + "/contacts/{contact_id:int}/conversations",
                self._contact_conversations,
                methods=["GET"],
            ),
            Route(acc + "/conversations", self._create_conversation, methods=["POST"]),
            Route(conv, self._show, methods=["GET"]),
            Route(conv + "/messages", self._create_message, methods=["POST"]),
            Route(conv + "/messages", self._list_messages, methods=["GET"]),
            Route(conv + "/labels", self._labels, methods=["POST"]),
            Route(conv + "/toggle_status", self._toggle_status, methods=["POST"]),
        ]

    def _guard(self, request: Request) -> Response | None:
        with self._lock:
            self.requests.append((request.method, request.url.path))
            down = self._down
        if down is not None:
            return JSONResponse({"error": "unavailable"}, status_code=down)
        if request.headers.get("api_access_token") != API_KEY:
            return JSONResponse({"error": "You need to sign in or sign up"}, status_code=401)
        if request.path_params.get("account_id", ACCOUNT_ID) != ACCOUNT_ID:
            return JSONResponse({"error": "not found"}, status_code=404)
        return None

    def _conversation_json(self, conversation: Conversation) -> dict[str, Any]:
        return self._conversation_push(conversation)

    async def _profile(self, request: Request) -> Response:
        return self._guard(request) or JSONResponse(JULIA_USER | {"email": "julia@revoluna"})

    async def _search(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        q = request.query_params.get("q", "")
        with self._lock:
            found = [
                vars(c) | {"type": "contact"}
                for c in self.contacts.values()
                if q and (q in c.phone_number or q == c.identifier or q.lower() in c.name.lower())
            ]
        return JSONResponse({"meta": {"count": len(found), "current_page": 1}, "payload": found})

    async def _create_contact(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        body = await request.json()
        with self._lock:
            for c in self.contacts.values():
                if c.phone_number == body.get("phone_number") or (
                    body.get("identifier") and c.identifier == body.get("identifier")
                ):
                    return JSONResponse(
                        {"message": "Phone number has already been taken"}, status_code=422
                    )
            contact = Contact(
                next(self._ids),
                body.get("name") or "",
                body.get("phone_number") or "",
                body.get("identifier"),
                body.get("additional_attributes") or {},
            )
            self.contacts[contact.id] = contact
        return JSONResponse(
            {
                "payload": {
                    "contact": vars(contact) | {"type": "contact"},
                    "contact_inbox": {"inbox": {"id": body.get("inbox_id")}, "source_id": "x"},
                }
            }
        )

    async def _contact_conversations(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        contact_id = request.path_params["contact_id"]
        with self._lock:
            found = [
                self._conversation_json(c)
                for c in self.conversations.values()
                if c.contact_id == contact_id
            ]
        return JSONResponse({"payload": found})

    async def _create_conversation(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        body = await request.json()
        with self._lock:
            if body.get("contact_id") not in self.contacts or body.get("inbox_id") != INBOX_ID:
                return JSONResponse({"error": "not found"}, status_code=404)
            conversation = Conversation(
                next(self._ids),
                body["contact_id"],
                body["inbox_id"],
                body.get("status") or "open",
                body.get("additional_attributes") or {},
            )
            self.conversations[conversation.id] = conversation
            return JSONResponse(self._conversation_json(conversation))

    async def _show(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        with self._lock:
            conversation = self.conversations.get(request.path_params["cid"])
            if conversation is None:
                return JSONResponse({"error": "not found"}, status_code=404)
            return JSONResponse(self._conversation_json(conversation))

    async def _create_message(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        body = await request.json()
        with self._lock:
            cid = request.path_params["cid"]
            if cid not in self.conversations:
                return JSONResponse({"error": "not found"}, status_code=404)
            kind = body.get("message_type") or "outgoing"
            contact = self.contacts[self.conversations[cid].contact_id]
            sender = (
                {"id": contact.id, "name": contact.name, "type": "contact"}
                if kind == "incoming"
                else JULIA_USER
            )
            message = self._add_message(
                cid,
                body.get("content") or "",
                kind,
                bool(body.get("private")),
                body.get("source_id"),
                sender,
            )
            if kind == "incoming" and self.conversations[cid].status == "resolved":
                self._set_status(cid, "open")  # Message#reopen_conversation
            lost = self._lose > 0
            self._lose -= 1 if lost else 0
        if lost:
            return JSONResponse({"error": "upstream timeout"}, status_code=503)
        return JSONResponse(self._list_item(message) | {"message_type": kind})

    async def _list_messages(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        cid = request.path_params["cid"]
        with self._lock:
            items = [self._list_item(m) for m in self.messages if m.conversation_id == cid]
        return JSONResponse({"meta": {}, "payload": items[-20:]})

    async def _labels(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        body = await request.json()
        with self._lock:
            conversation = self.conversations[request.path_params["cid"]]
            self._set_labels(conversation, [str(x) for x in body.get("labels") or []])
            return JSONResponse({"payload": list(conversation.labels)})

    async def _toggle_status(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        body = await request.json()
        with self._lock:
            cid = request.path_params["cid"]
            status = str(body.get("status") or "open")
            self._set_status(cid, status)
            conversation = self.conversations[cid]
            if status == "open" and conversation.assignee is None:
                # handle_human_open: opening as an agent user assigns it to them.
                conversation.assignee = JULIA_USER
                self.outbox.append(
                    self._conversation_push(conversation)
                    | {
                        "event": "conversation_updated",
                        "changed_attributes": [
                            {"assignee_id": {"previous_value": None, "current_value": 1}}
                        ],
                    }
                )
        return JSONResponse(
            {
                "meta": {},
                "payload": {"success": True, "current_status": status, "conversation_id": cid},
            }
        )
