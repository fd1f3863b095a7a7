"""The agent: one bounded Messages-API tool loop that produces Julia's reply.

The prompt is laid out for prompt caching: tools and the stable system prompt (persona,
rules, briefing) first, with a breakpoint on the system prompt; then the conversation so
far, with a breakpoint on its last block, so the next turn reads all of it from cache;
then this turn's messages with the per-turn context (time, doctor, memories) last.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.domain.agent.tools import TOOL_DEFINITIONS, ToolOutcome
from app.domain.conversations.repository import StoredMessage
from app.integrations.anthropic_llm import cost_usd
from app.integrations.protocols import LLM, Usage

MAX_LLM_CALLS = 6
MAX_TOKENS = 1024
_EPHEMERAL = {"type": "ephemeral"}

ToolRunner = Callable[[str, dict[str, Any]], Awaitable[ToolOutcome]]


@dataclass
class AgentResult:
    text: str
    model: str
    llm_calls: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    tool_texts: list[str] = field(default_factory=list)
    handoff_reason: str | None = None
    reserved_shift_ids: list[int] = field(default_factory=list)
    quotable_cents: set[int] = field(default_factory=set)


def said(message: StoredMessage) -> str | None:
    """What the doctor wrote or said: the text (or caption) and a voice note's transcript."""
    transcript = (message.media or {}).get("transcript")
    parts = [p for p in (transcript, message.body) if isinstance(p, str) and p.strip()]
    return "\n".join(parts) or None


def _clock(seconds: object) -> str:
    if not isinstance(seconds, int) or seconds <= 0:
        return ""
    return f" {seconds // 60}:{seconds % 60:02d}"


_NAMES = {"image": "foto", "video": "vídeo", "document": "documento", "sticker": "figurinha"}


def _describe_media(kind: str, media: dict[str, Any], *, current: bool, attached: bool) -> str:
    state = media.get("state")
    name = _NAMES.get(kind, "anexo")
    if kind == "document" and isinstance(media.get("file_name"), str):
        name = f"documento {media['file_name'][:80]}"
    if kind == "audio":
        transcript = media.get("transcript")
        if isinstance(transcript, str):
            return f"[áudio{_clock(media.get('seconds'))}] {transcript or '(sem fala)'}"
        if state is None:
            return "[áudio]"
        return f"[áudio{_clock(media.get('seconds'))} que vc não conseguiu ouvir]"
    if state == "refused":
        return f"[{name} grande demais, vc não conseguiu abrir]"
    if state in ("failed", "pending"):
        return f"[{name} que vc não conseguiu abrir]"
    if state == "unsupported":
        return f"[{name} num formato que vc não abre]"
    if state == "ready":
        if current and attached:
            return f"[{name} anexada abaixo]" if kind == "image" else f"[{name} anexado abaixo]"
        if not current:
            return f"[{name} que vc já viu]"
        return f"[{name} que vc não conseguiu abrir]"
    return f"[{name}]"


def describe(message: StoredMessage, *, current: bool = False, attached: bool = False) -> str:
    """A message as the model reads it; media Julia cannot see or hear is named, not
    invented. `current`: in this turn's burst (its attachment, when `attached`, follows as a
    content block); older turns carry the description only."""
    media = message.media or {}
    kind = media.get("kind")
    if kind in ("reaction", "edit", "revoke"):
        return _describe_change(message, kind, media)
    if media.get("revoked"):
        return "[apagou esta mensagem]"
    parts = []
    if kind:
        parts.append(_describe_media(str(kind), media, current=current, attached=attached))
    if message.body:
        parts.append(message.body)
    return " ".join(parts) or "[mensagem vazia]"


def _describe_change(message: StoredMessage, kind: str, media: dict[str, Any]) -> str:
    # Reactions, edits and deletes are recorded by intake with the target's text in `media`.
    target = media.get("target")
    whose = "sua mensagem" if media.get("target_direction") == "out" else "mensagem"
    what = f'à {whose} "{target}"' if target else "a uma mensagem"
    if kind == "reaction":
        return f"[reagiu {message.body} {what}]" if message.body else f"[tirou a reação {what}]"
    quoted = f' "{target}"' if target else ""
    if kind == "edit":
        return f"[editou a mensagem{quoted} para:] {message.body or ''}".rstrip()
    return f"[apagou a mensagem{quoted}]"


def attachment_block(mimetype: str, data: bytes) -> dict[str, Any]:
    """An image or PDF as a Messages API content block (base64 source)."""
    kind = "document" if mimetype == "application/pdf" else "image"
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": kind, "source": {"type": "base64", "media_type": mimetype, "data": encoded}}


def build_messages(
    history: list[StoredMessage],
    burst: list[StoredMessage],
    context: str,
    attachments: dict[int, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Alternating user/assistant messages; the burst and the context close the list.

    The cache breakpoint is on the last block of the history, so the burst's attachments
    (`attachments`: message id -> content block) come after the cached prefix."""
    messages: list[dict[str, Any]] = []
    attached = attachments or {}

    def add(role: str, block: dict[str, Any]) -> None:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].append(block)
        else:
            messages.append({"role": role, "content": [block]})

    def text(value: str) -> dict[str, Any]:
        return {"type": "text", "text": value}

    for message in history:
        add("user" if message.direction == "in" else "assistant", text(describe(message)))
    if messages and messages[0]["role"] == "assistant":
        messages.insert(0, {"role": "user", "content": [text("(início)")]})
    if messages:
        messages[-1]["content"][-1]["cache_control"] = _EPHEMERAL
    for message in burst:
        block = attached.get(message.id)
        add("user", text(describe(message, current=True, attached=block is not None)))
        if block is not None:
            add("user", block)
    add("user", text(f"<contexto>\n{context}\n</contexto>"))
    return messages


async def run(
    llm: LLM,
    *,
    model: str,
    system: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    run_tool: ToolRunner,
) -> AgentResult:
    """Call the model, run the tools it asks for, and return its final text."""
    result = AgentResult(text="", model=model)
    totals = [0, 0, 0, 0]
    conversation = list(messages)
    final_text = ""
    for _ in range(MAX_LLM_CALLS):
        response = await llm.create(
            model=model,
            system=system,
            messages=conversation,
            tools=TOOL_DEFINITIONS,
            max_tokens=MAX_TOKENS,
        )
        result.llm_calls += 1
        result.cost_usd += cost_usd(response.model, response.usage)
        u = response.usage
        for i, value in enumerate(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens)
        ):
            totals[i] += value
        final_text = _text_of(response.content)
        tool_uses = [b for b in response.content if b.get("type") == "tool_use"]
        if response.stop_reason != "tool_use" or not tool_uses:
            break
        conversation.append({"role": "assistant", "content": response.content})
        results = []
        for block in tool_uses:
            outcome = await run_tool(str(block["name"]), dict(block.get("input") or {}))
            result.tool_calls += 1
            result.tool_texts.append(outcome.content)
            result.quotable_cents |= outcome.quotable_cents
            if outcome.handoff_reason:
                result.handoff_reason = outcome.handoff_reason
            if outcome.reserved_shift_id is not None:
                result.reserved_shift_ids.append(outcome.reserved_shift_id)
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": block["id"],
                    "content": outcome.content,
                    "is_error": outcome.is_error,
                }
            )
        conversation.append({"role": "user", "content": results})
    result.text = final_text
    result.usage = Usage(*totals)
    return result


async def rewrite(
    llm: LLM,
    *,
    model: str,
    system: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    draft: str,
    problems: list[str],
) -> tuple[str, Usage, float]:
    """Ask once for a corrected reply when the draft broke a rule that cannot be fixed by
    formatting (an invented value, a hint of being an AI)."""
    correction = (
        "Sua última resposta não pode ser enviada: "
        + "; ".join(problems)
        + ". Reescreva a resposta pro médico seguindo todas as regras, só o texto da mensagem."
    )
    convo = [
        *messages,
        {"role": "assistant", "content": [{"type": "text", "text": draft}]},
        {"role": "user", "content": [{"type": "text", "text": f"<sistema>{correction}</sistema>"}]},
    ]
    response = await llm.create(
        model=model, system=system, messages=convo, tools=TOOL_DEFINITIONS, max_tokens=MAX_TOKENS
    )
    return _text_of(response.content), response.usage, cost_usd(response.model, response.usage)


def _text_of(content: list[dict[str, Any]]) -> str:
    """The text blocks of an answer, as one reply (blank line between blocks)."""
    texts = [str(b.get("text", "")).strip() for b in content if b.get("type") == "text"]
    return "\n\n".join(t for t in texts if t)
