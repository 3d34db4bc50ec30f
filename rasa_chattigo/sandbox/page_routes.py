"""The web chat page and what it reads: the page's files, the event stream, config and clock."""

import logging
from pathlib import Path
from typing import List

from aiohttp import web

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.events import stream
from rasa_chattigo.sandbox.fields import Fields
from rasa_chattigo.sandbox.responses import invalid, read_json
from rasa_chattigo.sandbox.route_group import RouteGroup
from rasa_chattigo.sandbox.window import parse_span

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: The page's file types, fixed: aiohttp 3.10+ guesses from Python's built-in table, which calls
#: JavaScript `application/javascript` up to Python 3.11.
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                ".png": "image/png"}


class PageRoutes(RouteGroup):
    """Handlers of `/`, `/static/`, `/sandbox/events`, `/sandbox/config` and `/sandbox/clock`."""

    def routes(self) -> List[web.AbstractRouteDef]:
        """The route table."""
        return [
            web.get("/", self.page),
            web.get("/static/{name}", self.static_file),
            web.get("/sandbox/events", self.events),
            web.get("/sandbox/events.json", self.events_json),
            web.get("/sandbox/config", self.config),
            web.get("/sandbox/clock", self.show_clock),
            web.post("/sandbox/clock", self.move_clock),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        """`GET /`: the WhatsApp-like chat."""
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def static_file(self, request: web.Request) -> web.FileResponse:
        """`GET /static/<name>`: one of the page's files (a name, never a path)."""
        path = STATIC / request.match_info["name"]
        kind = STATIC_TYPES.get(path.suffix)
        if kind is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": kind})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """`GET /sandbox/events`: every event since `Last-Event-ID` (or `?after=`), then live."""
        return await stream(request, self.sandbox.events)

    async def events_json(self, request: web.Request) -> web.Response:
        """`GET /sandbox/events.json?after=`: the same events as one JSON list."""
        raw = request.query.get("after", "0")
        after = int(raw) if raw.isdigit() else 0
        events = self.sandbox.events.after(after)
        return web.json_response({"events": [event.to_json() for event in events]})

    async def config(self, request: web.Request) -> web.Response:
        """`GET /sandbox/config`: business numbers, simulated users and switches, for the page."""
        sandbox = self.sandbox
        dids = list(dict.fromkeys(d for owned in sandbox.state.dids.values() for d in owned))
        return web.json_response({
            "dids": dids,
            "webhooks": dict(sandbox.state.webhooks),
            "people": [{"phone": p, "name": n} for p, n in sandbox.people.items()],
            "bot_name": sandbox.bot_name,
            "statuses": sandbox.statuses,
            "window": sandbox.window,
        })

    def _clock(self) -> web.Response:
        clock = self.sandbox.clock
        return web.json_response({
            "now": clock(), "offset_seconds": clock.offset, "enforced": self.sandbox.window,
            "windows": self.sandbox.windows.describe(),
        })

    async def show_clock(self, request: web.Request) -> web.Response:
        """`GET /sandbox/clock`: the sandbox's time, how far it was moved, every user's window."""
        return self._clock()

    async def move_clock(self, request: web.Request) -> web.Response:
        """`POST /sandbox/clock` `{"advance": "+25h"}` (or seconds): moves the clock forward."""
        try:
            advance = Fields(await read_json(request)).data.get("advance")
            if isinstance(advance, bool) or not isinstance(advance, (str, int, float)):
                raise InvalidPayload("advance", "is required: a span such as '+25h', or seconds")
            try:
                seconds = parse_span(advance) if isinstance(advance, str) else float(advance)
                self.sandbox.clock.advance(seconds)
            except ValueError as exc:
                raise InvalidPayload("advance", str(exc)) from None
        except InvalidPayload as exc:
            return invalid(exc)
        logger.info("Sandbox: clock moved forward %.0f s (offset %.0f s)", seconds,
                    self.sandbox.clock.offset)
        self.sandbox.events.publish("clock", offset_seconds=self.sandbox.clock.offset)
        return self._clock()
