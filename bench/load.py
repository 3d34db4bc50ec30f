"""The conversation load: simulated users talking to `rasa run` over REST or over Chattigo.

Every user sends a message, waits for all of the bot's replies, then sends the next one (a
conversation); many users run at once. A REST message is done when its HTTP answer arrives. A
Chattigo message is done when its last reply reached the sandbox: the sandbox stamps each send
it accepts (`at`, wall clock, ms), and this process, on the same machine and clock, compares that
stamp with the moment it posted the webhook.

The generator shares the machine with what it measures, so it uses aiohttp for REST (about half
the CPU per request of httpx here, see docs/benchmarks.md), one long-poll for all replies, and
for webhooks a plain connection that times each answer by the kernel (`bench.poster`): what the
generator's own loop delays is not the server's acknowledgement time.
"""

import asyncio
import datetime
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import aiohttp

from bench.poster import Poster, PostFailed
from rasa_chattigo.inbound import parse_webhook
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook
from rasa_chattigo.settings import parse_settings

logger = logging.getLogger(__name__)

#: One conversation with the demo bot, repeated as long as a user has messages to send.
SCRIPT = (
    "hola",
    "quiero ver los planes",
    "quiero contratar el premium",
    "sí, por favor",
    "a qué hora atienden?",
    "sos un bot?",
    "el wifi no funciona",
    "no",
    "muchas gracias",
    "chau",
)
REPLY_TIMEOUT = 60.0
#: Seconds a webhook may take to be answered before it counts as failed.
POST_TIMEOUT = 120.0


@dataclass
class RunResult:
    """What one load run measured.

    Attributes:
        channel: "rest" or "chattigo".
        messages: messages sent.
        replies: bot replies received.
        seconds: wall time from the first send to the last message done.
        latencies_ms: per message, send to done.
        acks_ms: per message, webhook post to its HTTP answer's arrival at the generator's
            socket, by the kernel's time stamp (Chattigo only; `bench.poster`).
        acks_seen_ms: the same to the generator's loop having read the answer, which counts
            the generator's own delays too.
        acks_unstamped: answers the kernel gave no time stamp for (timed as `acks_seen_ms`).
        errors: messages that failed or timed out.
        notify_lag_ms: per reply, sandbox stamp to this process seeing it (Chattigo only).
        unexpected_replies: replies beyond the expected count (the channels disagreed).
    """

    channel: str
    messages: int = 0
    replies: int = 0
    seconds: float = 0.0
    latencies_ms: List[float] = field(default_factory=list)
    acks_ms: List[float] = field(default_factory=list)
    acks_seen_ms: List[float] = field(default_factory=list)
    acks_unstamped: int = 0
    errors: int = 0
    notify_lag_ms: List[float] = field(default_factory=list)
    unexpected_replies: int = 0

    @property
    def throughput(self) -> float:
        """Messages done per second."""
        return self.messages / self.seconds if self.seconds else 0.0


def whatsapp_metadata(did: str, msisdn: str, texts: Sequence[str]) -> List[Dict[str, Any]]:
    """The metadata the Chattigo channel gives the bot for each of these texts from `msisdn`."""
    settings = parse_settings({"did": did, "username": "bench", "password": "bench"})
    metadata = []
    for text in texts:
        body = build_cloud_webhook("text", did=did, msisdn=msisdn, name="Bench", text=text)
        (message,) = parse_webhook(body, settings).messages
        metadata.append(message.metadata)
    return metadata


def conversation(length: int) -> List[str]:
    """The first `length` messages of the script, repeated."""
    return [SCRIPT[i % len(SCRIPT)] for i in range(length)]


def _wall_seconds(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).timestamp()


class ReplyWatcher:
    """Long-polls the sandbox's accepted sends and hands each one to the user it was sent to.

    Args:
        sandbox_url: the sandbox base URL.
        did: the business number the bot sends from.
    """

    def __init__(self, sandbox_url: str, did: str) -> None:
        self._url = sandbox_url
        self._http: Optional[aiohttp.ClientSession] = None
        self._did = did
        self._after = 0
        self._inboxes: Dict[str, asyncio.Queue[Dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._task: Optional[asyncio.Task[None]] = None

    async def start(self) -> None:
        """Resets the sandbox's message log (so polls stay cheap) and starts polling."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40.0))
        async with self._http.post(f"{self._url}/sandbox/reset", json={}) as answer:
            answer.raise_for_status()
        async with self._http.get(f"{self._url}/sandbox/messages",
                                  params={"did": self._did}) as answer:
            answer.raise_for_status()
            listing = await answer.json()
        self._after = max((m["seq"] for m in listing["messages"]), default=self._after)
        self._task = asyncio.ensure_future(self._poll())

    async def stop(self) -> None:
        """Stops polling and closes the HTTP client."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _poll(self) -> None:
        http = self._http
        if http is None:
            raise RuntimeError("ReplyWatcher.start() was not called")
        while True:
            async with http.get(f"{self._url}/sandbox/messages", params={
                    "did": self._did, "after": self._after, "wait": 20}) as answer:
                answer.raise_for_status()
                listing = await answer.json()
            seen = time.time()
            for message in listing["messages"]:
                self._after = max(self._after, message["seq"])
                message["_seen"] = seen
                self._inboxes[message["msisdn"]].put_nowait(message)

    async def replies(self, msisdn: str, count: int, timeout: float) -> List[Dict[str, Any]]:
        """Waits for the next `count` replies to `msisdn`.

        Raises:
            asyncio.TimeoutError: they did not all arrive within `timeout` seconds.
        """
        inbox = self._inboxes[msisdn]
        got: List[Dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            got.append(await asyncio.wait_for(inbox.get(), deadline - time.monotonic()))
        return got

    def leftover(self, msisdn: str) -> int:
        """Replies to `msisdn` that nobody waited for (more than expected)."""
        return self._inboxes[msisdn].qsize()


async def rest_user(http: aiohttp.ClientSession, url: str, sender: str, messages: Sequence[str],
                    result: RunResult,
                    metadata: Optional[Sequence[Dict[str, Any]]] = None,
                    expected: Optional[Sequence[int]] = None) -> List[int]:
    """One REST conversation; returns the number of replies to each message.

    Args:
        metadata: what each message carries as `metadata` (`whatsapp_metadata`, made before
            the run so that the generator's CPU stays what it is for plain REST).
        expected: replies to each message (the calibration's); a reply missing counts as an
            error, one more as an unexpected reply.
    """
    counts = []
    for index, text in enumerate(messages):
        body: Dict[str, Any] = {"sender": sender, "message": text}
        if metadata is not None:
            body["metadata"] = metadata[index]
        start = time.perf_counter()
        try:
            async with http.post(url, json=body) as answer:
                answer.raise_for_status()
                replies = len(await answer.json())
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            logger.warning("REST message from %s failed: %s", sender, exc)
            result.errors += 1
            counts.append(0)
            continue
        result.latencies_ms.append((time.perf_counter() - start) * 1000)
        result.messages += 1
        result.replies += replies
        counts.append(replies)
        if expected is not None:
            result.errors += max(expected[index] - replies, 0)
            result.unexpected_replies += max(replies - expected[index], 0)
    return counts


async def chattigo_user(poster: Poster, watcher: ReplyWatcher, did: str, msisdn: str,
                        messages: Sequence[str], expected: Sequence[int],
                        result: RunResult) -> float:
    """One WhatsApp conversation through the Chattigo webhook; returns when its last reply landed.

    `expected[i]` is how many replies message i gets (from the REST calibration).
    """
    last = 0.0
    for text, count in zip(messages, expected):
        body = json.dumps(build_cloud_webhook("text", did=did, msisdn=msisdn, name="Bench",
                                              text=text)).encode()
        sent = time.time()
        try:
            answer = await asyncio.wait_for(poster.post(body), POST_TIMEOUT)
            replies = (await watcher.replies(msisdn, count, REPLY_TIMEOUT)
                       if answer.status == 200 else None)
        except (OSError, PostFailed, asyncio.TimeoutError) as exc:
            logger.warning("Chattigo message from %s failed: %r", msisdn, exc)
            result.errors += 1
            continue
        if replies is None:
            logger.warning("Chattigo message from %s refused: HTTP %d", msisdn, answer.status)
            result.errors += 1
            continue
        acked = sent + answer.seen_seconds
        done = max(_wall_seconds(reply["at"]) for reply in replies) if replies else acked
        result.acks_ms.append(answer.seconds * 1000)
        result.acks_seen_ms.append(answer.seen_seconds * 1000)
        result.acks_unstamped += not answer.stamped
        result.latencies_ms.append(max(done - sent, 0.0) * 1000)
        result.notify_lag_ms.extend(
            (reply["_seen"] - _wall_seconds(reply["at"])) * 1000 for reply in replies)
        result.messages += 1
        result.replies += len(replies)
        last = max(last, done)
    return last


async def run_rest(base_url: str, users: int, per_user: int, tag: str,
                   metadata_did: Optional[str] = None, route: str = "rest",
                   expected: Optional[Sequence[int]] = None) -> RunResult:
    """`users` concurrent REST conversations of `per_user` messages each.

    Args:
        metadata_did: sends to `/webhooks/rest_metadata/` instead (`bench.channels`), every
            message with the WhatsApp metadata the Chattigo channel gives it, for this
            business number.
        route: the REST channel's route name otherwise (`rest_reply`: `bench.channels`).
        expected: replies to each message, checked (`rest_user`).
    """
    result = RunResult("rest")
    if metadata_did is not None:
        route = "rest_metadata"
    url = f"{base_url}/webhooks/{route}/webhook"
    texts = conversation(per_user)
    metadata = [None if metadata_did is None
                else whatsapp_metadata(metadata_did, f"5498{n:08d}", texts) for n in range(users)]
    async with _client(users) as http:
        start = time.perf_counter()
        await asyncio.gather(*(
            rest_user(http, url, f"bench-{tag}-{n}", texts, result, metadata[n], expected)
            for n in range(users)))
        result.seconds = time.perf_counter() - start
    return result


async def run_chattigo(webhook_url: str, sandbox_url: str, did: str, users: int, per_user: int,
                       expected: Sequence[int], tag: int, settle: float = 0.3) -> RunResult:
    """`users` concurrent WhatsApp conversations through the Chattigo webhook.

    Args:
        expected: replies to each message of the conversation.
        tag: a number making this run's phone numbers unique (fresh trackers every run).
        settle: seconds to wait after the run for replies beyond the expected ones.
    """
    result = RunResult("chattigo")
    watcher = ReplyWatcher(sandbox_url, did)
    await watcher.start()
    numbers = [f"549{tag:04d}{n:05d}" for n in range(users)]
    posters = [Poster(webhook_url) for _ in numbers]
    try:
        start = time.time()
        ends = await asyncio.gather(*(
            chattigo_user(poster, watcher, did, number, conversation(per_user), expected,
                          result)
            for poster, number in zip(posters, numbers)))
        result.seconds = max(max(ends) - start, 1e-9)
        await asyncio.sleep(settle)
        if result.acks_unstamped:
            logger.warning("%d of %d webhook answers had no kernel time stamp: timed when the "
                           "generator read them", result.acks_unstamped, len(result.acks_ms))
        extra = sum(watcher.leftover(number) for number in numbers)
        if extra:
            logger.warning("%d Chattigo replies arrived beyond the expected count", extra)
            result.unexpected_replies += extra
    finally:
        for poster in posters:
            poster.close()
        await watcher.stop()
    return result


def _client(users: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120.0),
                                 connector=aiohttp.TCPConnector(limit=users))
