"""Posting webhooks to the bot: user messages on demand, delivery statuses in the background."""

import asyncio
import json
import logging
import time
from typing import Any, Callable, Dict, Optional, Set, Tuple

import aiohttp

from rasa_chattigo.sandbox.whatsapp import build_status_webhook

logger = logging.getLogger(__name__)

STATUS_SEQUENCE = ("sent", "delivered", "read")


class DeliveryError(Exception):
    """The webhook could not be reached or did not answer in time."""


class WebhookPoster:
    """Posts JSON to registered webhooks with one shared aiohttp session.

    Args:
        timeout: seconds to wait for the bot's answer.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    async def start(self) -> None:
        """Opens the HTTP session."""
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        """Closes the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, payload: Any) -> Tuple[int, Any]:
        """Posts `payload` as JSON; returns the status and the answer (parsed JSON, else text).

        Raises:
            DeliveryError: connection refused, reset, or no answer within the timeout.
        """
        if self._session is None:
            raise DeliveryError("the sandbox is not running")
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "chattigo-sandbox"}
        try:
            async with self._session.post(url, data=data, headers=headers) as response:
                text = await response.text()
                status = response.status
        except asyncio.TimeoutError:
            raise DeliveryError(f"webhook {url} did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"webhook {url} could not be reached: {exc}") from None
        try:
            return status, json.loads(text) if text else ""
        except ValueError:
            return status, text


class StatusNotifier:
    """Reports sent, delivered and read for accepted sends, as Meta would, in the background.

    Args:
        poster: the webhook poster.
        webhook_for: business number -> its registered webhook URL, if any.
        delay: seconds between two statuses of one message.
        clock: Unix time of the statuses' `timestamp`.
        on_status: told of every status posted (the page's ticks).
    """

    def __init__(
        self,
        poster: WebhookPoster,
        webhook_for: Callable[[str], Optional[str]],
        delay: float,
        clock: Callable[[], float] = time.time,
        on_status: Optional[Callable[[Dict[str, Any]], None]] = None,
    ) -> None:
        self._poster = poster
        self._webhook_for = webhook_for
        self._delay = delay
        self._clock = clock
        self._on_status = on_status
        self._tasks: Set[asyncio.Task[None]] = set()

    def notify(
        self,
        did: str,
        recipient: str,
        wamid: str,
        callback_data: Optional[str],
        error: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Schedules the statuses of one accepted message: sent, delivered, read; or, given
        an `error`, the one `failed` status carrying it."""
        statuses = ("failed",) if error else STATUS_SEQUENCE
        task = asyncio.ensure_future(
            self._report(statuses, did, recipient, wamid, callback_data, error)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(
        self,
        statuses: Tuple[str, ...],
        did: str,
        recipient: str,
        wamid: str,
        callback_data: Optional[str],
        error: Optional[Dict[str, Any]],
    ) -> None:
        for status in statuses:
            await asyncio.sleep(self._delay)
            payload = build_status_webhook(
                status, did=did, recipient=recipient, wamid=wamid, callback_data=callback_data,
                timestamp=self._clock(), errors=[error] if error else None,
            )
            if self._on_status is not None:
                self._on_status(payload)
            url = self._webhook_for(did)
            if url is None:
                logger.info("Sandbox: no webhook for %s, status %s not reported", did, status)
                return
            try:
                answer, _ = await self._poster.post(url, payload)
            except DeliveryError as exc:
                logger.warning("Sandbox: status %s for %s not delivered: %s", status, wamid, exc)
                return
            logger.info("Sandbox: status %s for %s -> HTTP %s", status, wamid, answer)

    async def close(self) -> None:
        """Cancels statuses not reported yet."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
