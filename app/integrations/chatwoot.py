"""Chatwoot's Application API (the `api_access_token` of an agent or agent bot), and only
the calls Julia's mirror needs.

Shapes are Chatwoot's own (chatwoot/chatwoot):
- contacts: `Api::V1::Accounts::ContactsController#search/#create`, rendered by
  app/views/api/v1/accounts/contacts/create.json.jbuilder (`{"payload": {"contact": {...},
  "contact_inbox": {...}}}`) and search.json.jbuilder (`{"meta", "payload": [...]}`);
- conversations: `Api::V1::Accounts::ConversationsController#create/#show/#toggle_status`
  (app/controllers/api/v1/accounts/conversations_controller.rb); `create` takes `inbox_id`
  and `contact_id` and builds the contact inbox itself (`build_contact_inbox`);
- messages: `Conversations::MessagesController#create` through
  app/builders/messages/message_builder.rb (`content`, `message_type`, `private`,
  `source_id` are kept), listed by conversations/messages/index.json.jbuilder (`{"meta",
  "payload": [{"id", "content", "message_type": <0 incoming, 1 outgoing, 2 activity>,
  "private", "source_id", "created_at": <epoch>, "sender": {...}}]}`);
- labels: `Conversations::LabelsController#create` (`{"labels": [...]}` replaces the
  conversation's labels, answers `{"payload": [...]}`).
"""

from __future__ import annotations

from typing import Any

import httpx

from app.integrations.protocols import (
    ChatwootError,
    ChatwootMessage,
    ChatwootState,
)

# Chatwoot's integer message types (Message.message_type enum in app/models/message.rb).
MESSAGE_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}


def message_type_name(value: Any) -> str:
    """`message_type` as a name: webhooks send the name, the messages list the integer."""
    if isinstance(value, int):
        return MESSAGE_TYPES.get(value, str(value))
    return str(value or "")


class ChatwootClient:
    """One account and its API-channel inbox; every call raises ChatwootError on failure."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        account_id: int,
        inbox_id: int,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._account = f"{self._base}/api/v1/accounts/{account_id}"
        self._headers = {"api_access_token": api_key}
        self.inbox_id = inbox_id
        self._own_user_id: int | None = None
        self._own_user_known = False

    async def _call(
        self, method: str, url: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        try:
            response = await self._http.request(
                method, url, json=json, params=params, headers=self._headers, timeout=10.0
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ChatwootError(f"chatwoot unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            # The request left: a create may have happened (the mirror looks before redoing).
            raise ChatwootError(
                f"chatwoot request failed: {type(exc).__name__}", maybe_done=True
            ) from exc
        if response.status_code >= 400:
            raise ChatwootError(
                f"chatwoot {method} {url.removeprefix(self._base)} answered {response.status_code}",
                status=response.status_code,
                maybe_done=response.status_code >= 500,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ChatwootError("chatwoot answered something that is not JSON") from exc

    # Contacts ------------------------------------------------------------------------

    async def find_contact(self, *, identifier: str, phone: str) -> int | None:
        """The contact with Julia's identifier for the doctor, or with their number."""
        body = await self._call("GET", f"{self._account}/contacts/search", params={"q": phone})
        contacts = body.get("payload", []) if isinstance(body, dict) else []
        by_phone = None
        for contact in contacts:
            if not isinstance(contact, dict):
                continue
            if contact.get("identifier") == identifier:
                return int(contact["id"])
            if contact.get("phone_number") == f"+{phone}" and by_phone is None:
                by_phone = int(contact["id"])
        return by_phone

    async def create_contact(
        self, *, name: str, phone: str, identifier: str, attributes: dict[str, Any]
    ) -> int:
        body = await self._call(
            "POST",
            f"{self._account}/contacts",
            json={
                "inbox_id": self.inbox_id,
                "name": name,
                "phone_number": f"+{phone}",
                "identifier": identifier,
                "additional_attributes": attributes,
            },
        )
        payload = body.get("payload", {}) if isinstance(body, dict) else {}
        contact = payload.get("contact", payload) if isinstance(payload, dict) else {}
        if not isinstance(contact, dict) or "id" not in contact:
            raise ChatwootError("chatwoot created a contact without an id")
        return int(contact["id"])

    # Conversations -------------------------------------------------------------------

    async def find_conversation(self, contact_id: int, marker: dict[str, Any]) -> int | None:
        """The contact's conversation in our inbox whose additional_attributes carry `marker`
        (a create whose answer was lost left it there)."""
        body = await self._call("GET", f"{self._account}/contacts/{contact_id}/conversations")
        for conversation in body.get("payload", []) if isinstance(body, dict) else []:
            if not isinstance(conversation, dict):
                continue
            attributes = conversation.get("additional_attributes") or {}
            if conversation.get("inbox_id") == self.inbox_id and all(
                attributes.get(k) == v for k, v in marker.items()
            ):
                return int(conversation["id"])
        return None

    async def create_conversation(
        self, contact_id: int, *, status: str, marker: dict[str, Any]
    ) -> int:
        """A conversation in the API inbox; returns its display id (what every route takes)."""
        body = await self._call(
            "POST",
            f"{self._account}/conversations",
            json={
                "inbox_id": self.inbox_id,
                "contact_id": contact_id,
                "status": status,
                "additional_attributes": marker,
            },
        )
        if not isinstance(body, dict) or "id" not in body:
            raise ChatwootError("chatwoot created a conversation without an id")
        return int(body["id"])

    async def conversation_state(self, conversation_id: int) -> ChatwootState:
        body = await self._call("GET", f"{self._account}/conversations/{conversation_id}")
        if not isinstance(body, dict):
            raise ChatwootError("chatwoot answered no conversation")
        labels = [str(label) for label in body.get("labels") or []]
        return ChatwootState(status=str(body.get("status") or ""), labels=labels)

    async def set_labels(self, conversation_id: int, labels: list[str]) -> None:
        await self._call(
            "POST",
            f"{self._account}/conversations/{conversation_id}/labels",
            json={"labels": labels},
        )

    async def set_status(self, conversation_id: int, status: str) -> None:
        await self._call(
            "POST",
            f"{self._account}/conversations/{conversation_id}/toggle_status",
            json={"status": status},
        )

    # Messages ------------------------------------------------------------------------

    async def create_message(
        self,
        conversation_id: int,
        *,
        content: str,
        message_type: str,
        private: bool = False,
        source_id: str | None = None,
    ) -> int:
        payload: dict[str, Any] = {
            "content": content,
            "message_type": message_type,
            "private": private,
        }
        if source_id is not None:
            payload["source_id"] = source_id
        body = await self._call(
            "POST", f"{self._account}/conversations/{conversation_id}/messages", json=payload
        )
        if not isinstance(body, dict) or "id" not in body:
            raise ChatwootError("chatwoot created a message without an id")
        return int(body["id"])

    async def list_messages(self, conversation_id: int) -> list[ChatwootMessage]:
        """The conversation's latest messages (Chatwoot's first page), oldest first."""
        body = await self._call("GET", f"{self._account}/conversations/{conversation_id}/messages")
        messages = []
        for item in body.get("payload", []) if isinstance(body, dict) else []:
            if isinstance(item, dict) and "id" in item:
                messages.append(parse_message(item, conversation_id))
        return sorted(messages, key=lambda m: m.id)

    async def own_user_id(self) -> int | None:
        """The user behind the access token (GET /api/v1/profile), or None for an agent
        bot's token; asked once."""
        if not self._own_user_known:
            try:
                body = await self._call("GET", f"{self._base}/api/v1/profile")
            except ChatwootError as exc:
                if exc.status is None or exc.status >= 500:
                    raise
                body = None  # an agent bot has no profile
            self._own_user_id = int(body["id"]) if isinstance(body, dict) and "id" in body else None
            self._own_user_known = True
        return self._own_user_id


def parse_message(item: dict[str, Any], conversation_id: int) -> ChatwootMessage:
    """A message as the list API and the `message_created` webhook both describe it."""
    sender = item.get("sender") if isinstance(item.get("sender"), dict) else {}
    created = item.get("created_at")
    return ChatwootMessage(
        id=int(item["id"]),
        conversation_id=conversation_id,
        content=item.get("content") if isinstance(item.get("content"), str) else None,
        message_type=message_type_name(item.get("message_type")),
        private=bool(item.get("private")),
        source_id=item.get("source_id") if isinstance(item.get("source_id"), str) else None,
        sender_type=str(sender.get("type") or "") if sender else None,
        sender_id=int(sender["id"]) if sender and isinstance(sender.get("id"), int) else None,
        created_at=float(created) if isinstance(created, int | float) else None,
    )
