"""Slack: incoming-webhook notifications to the managers' channel, and the bot that answers
operator commands."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.core.errors import Unavailable
from app.integrations.protocols import Severity

_ICONS = {"info": "", "warning": ":warning: ", "critical": ":rotating_light: "}


class SlackNotifyError(Unavailable):
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


SLACK_API_BASE_URL = "https://slack.com/api/"


class SlackBotNotifier:
    """Posts to SLACK_CHANNEL as the bot (chat.postMessage): the managers' channel when no
    incoming webhook is configured."""

    def __init__(
        self, token: str, channel: str, *, base_url: str | None = None, timeout_s: int = 10
    ) -> None:
        url = (base_url or SLACK_API_BASE_URL).rstrip("/") + "/"
        self._client = AsyncWebClient(token=token, base_url=url, timeout=timeout_s)
        self._channel = channel

    async def notify(self, text: str, *, kind: str, severity: Severity = "info") -> None:
        try:
            await self._client.chat_postMessage(channel=self._channel, text=_ICONS[severity] + text)
        except SlackApiError as exc:
            raise SlackNotifyError(f"chat.postMessage: {exc.response.get('error')}") from exc
        except Exception as exc:  # aiohttp's errors: all mean "not delivered"
            raise SlackNotifyError(f"chat.postMessage failed: {type(exc).__name__}") from exc


class SlackReplyError(Unavailable):
    pass


class SlackBot:
    """The bot user (SLACK_BOT_TOKEN): answers operator commands in their thread."""

    def __init__(self, token: str, *, base_url: str | None = None, timeout_s: int = 10) -> None:
        # The SDK appends the method name to base_url, so it must end with a slash.
        url = (base_url or SLACK_API_BASE_URL).rstrip("/") + "/"
        self._client = AsyncWebClient(token=token, base_url=url, timeout=timeout_s)

    async def reply(self, channel: str, thread_ts: str | None, text: str) -> str:
        """chat.postMessage in the thread of `thread_ts`; returns the new message's ts."""
        try:
            response = await self._client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text
            )
        except SlackApiError as exc:
            raise SlackReplyError(f"chat.postMessage: {exc.response.get('error')}") from exc
        except Exception as exc:  # aiohttp's errors: all mean "not delivered"
            raise SlackReplyError(f"chat.postMessage failed: {type(exc).__name__}") from exc
        return str(response.get("ts") or "")
