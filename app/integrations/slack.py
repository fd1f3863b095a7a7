"""Slack: notifications to the managers' channel (incoming webhook, or the bot posting to
SLACK_CHANNEL), and the bot that answers operator commands."""

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

    async def notify(
        self, text: str, *, kind: str, severity: Severity = "info", thread: str | None = None
    ) -> str | None:
        # An incoming webhook cannot answer in a thread, nor say which message it posted.
        body = _ICONS[severity] + text
        try:
            response = await self._client.send(text=body)
        except Exception as exc:  # aiohttp raises a zoo of errors; all mean "not delivered"
            raise SlackNotifyError(f"slack webhook failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SlackNotifyError(f"slack webhook answered {response.status_code}")
        return None


SLACK_API_BASE_URL = "https://slack.com/api/"


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


class SlackChannelNotifier:
    """Posts notices to SLACK_CHANNEL with the bot token (chat.postMessage), when there is no
    SLACK_WEBHOOK_URL; a recovery can answer in its alert's thread."""

    def __init__(self, bot: SlackBot, channel: str) -> None:
        self._bot = bot
        self._channel = channel

    async def notify(
        self, text: str, *, kind: str, severity: Severity = "info", thread: str | None = None
    ) -> str | None:
        try:
            return await self._bot.reply(self._channel, thread, _ICONS[severity] + text) or None
        except SlackReplyError as exc:
            raise SlackNotifyError(str(exc)) from exc
