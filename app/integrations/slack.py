"""Slack: incoming-webhook notifications to the managers' channel."""

from __future__ import annotations

from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.integrations.protocols import Severity

_ICONS = {"info": "", "warning": ":warning: ", "critical": ":rotating_light: "}


class SlackNotifyError(Exception):
    pass


class SlackWebhookNotifier:
    """Posts to SLACK_WEBHOOK_URL (the channel is the webhook's, SLACK_CHANNEL is a hint)."""

    def __init__(self, url: str, channel: str | None = None, timeout_s: int = 10) -> None:
        self._client = AsyncWebhookClient(url=url, timeout=timeout_s)
        self._channel = channel

    async def notify(self, text: str, *, kind: str, severity: Severity = "info") -> None:
        body = _ICONS[severity] + text
        try:
            response = await self._client.send(text=body)
        except Exception as exc:  # aiohttp raises a zoo of errors; all mean "not delivered"
            raise SlackNotifyError(f"slack webhook failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SlackNotifyError(f"slack webhook answered {response.status_code}")
