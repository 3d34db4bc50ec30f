"""An httpx transport on aiohttp: the client keeps httpx's API at a fraction of httpcore's CPU.

Measured on the sandbox: about 0.7 ms of CPU per send against 3.1 ms with httpx's own
transport (the reply's HTTP call is what the Chattigo channel adds to Rasa's own work).
"""

import asyncio
import http.cookiejar
import json
import logging
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import httpx

# aiohttp failures as the httpx errors the client already understands, most specific first.
_ERRORS = (
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientError, httpx.NetworkError),
)

USER_AGENT = "rasa-chattigo"
#: What `post_json` sends besides the caller's headers: httpx's, with an uncompressed answer.
_POST_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "*/*",
                      "Accept-Encoding": "identity", "User-Agent": USER_AGENT}
#: A `post_json` exchange ends after this many `timeout`s in all, however its answer trickles.
TOTAL_TIMEOUTS = 3


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests, and the client's JSON POSTs (`post_json`), through one pooled
    `aiohttp.ClientSession`.

    The session is made on first use, inside the running event loop, and closed by
    `aclose` (which `httpx.AsyncClient.aclose` calls). httpx's per-request timeouts apply:
    `connect` to connecting, `read` to each wait for the answer.

    Args:
        max_connections: the pool's size.
    """

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: Optional[aiohttp.ClientSession] = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Sends one request; failures are raised as httpx transport errors."""
        timeouts = request.extensions.get("timeout", {})
        status, headers, content = await self._exchange(
            request.method, str(request.url), await request.aread(),
            list(request.headers.multi_items()),
            aiohttp.ClientTimeout(total=None, connect=timeouts.get("connect"),
                                  sock_read=timeouts.get("read")))
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def post_json(self, url: httpx.URL, body: Any, headers: Dict[str, str],
                        timeout: float) -> httpx.Response:
        """A JSON POST without httpx's request machinery, which cost about 0.3 ms of CPU per
        reply on top of aiohttp's own; the same body as httpx would send.

        Args:
            url: where to.
            body: the JSON value.
            headers: added to `_POST_JSON_HEADERS`.
            timeout: seconds to connect, and for each wait for the answer; the whole
                exchange at most `TOTAL_TIMEOUTS` times that.

        Raises:
            ValueError: `body` holds NaN or infinity (not JSON), as httpx raises it.
            TypeError: `body` holds a value JSON cannot encode.
            httpx.TransportError: as `handle_async_request` raises them.
        """
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                             allow_nan=False).encode("utf-8")
        status, raw, answer = await self._exchange(
            "POST", str(url), content, {**_POST_JSON_HEADERS, **headers},
            aiohttp.ClientTimeout(total=timeout * TOTAL_TIMEOUTS, connect=timeout,
                                  sock_read=timeout))
        response = httpx.Response(status, headers=raw, content=answer)
        if status >= 300:  # only a refusal is read for its request (a 400 to a login)
            response.request = httpx.Request("POST", url)
        return response

    async def _exchange(self, method: str, url: str, content: bytes, headers: Any,
                        timeout: aiohttp.ClientTimeout) -> Tuple[int, List[Any], bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                auto_decompress=False,  # httpx decodes the body by its Content-Encoding
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookie of one login on another's
            )
        try:
            async with self._session.request(method, url, data=content, headers=headers,
                                             timeout=timeout, allow_redirects=False) as answer:
                return answer.status, list(answer.raw_headers), await answer.read()
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout("no answer in time") from None
        except aiohttp.ClientError as exc:
            error = next(httpx_error for aio_error, httpx_error in _ERRORS
                         if isinstance(exc, aio_error))
            raise error(str(exc) or type(exc).__name__) from None

    async def aclose(self) -> None:
        """Closes the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def new_http_client(timeout: float) -> Tuple[httpx.AsyncClient, AiohttpTransport]:
    """The pooled HTTP client a Chattigo client sends with (this transport, no cookie jar),
    and the transport itself, for `post_json`.

    Args:
        timeout: httpx's timeout, in seconds.
    """
    _quiet_request_log()
    transport = AiohttpTransport(max_connections=100)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), cookies=_NoCookies(), transport=transport,
        headers={"User-Agent": USER_AGENT},
    ), transport


class _NoCookies(http.cookiejar.CookieJar):
    """Keeps no cookies: Chattigo authenticates with the bearer token alone.

    httpx reads every answer's cookies into the jar; skipping that was a seventh of a send's CPU.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Ignores the answer's cookies."""


def _quiet_request_log() -> None:
    """Keeps httpx's one INFO line per request out of the log.

    Only when nobody set the `httpx` logger's level: set it to INFO to see them again (for the
    requests httpx sends: replies and logins take `post_json`, which logs none). Under Rasa's
    log handlers that line cost a tenth of a reply's CPU.
    """
    http_logger = logging.getLogger("httpx")
    if http_logger.level == logging.NOTSET:
        http_logger.setLevel(logging.WARNING)
