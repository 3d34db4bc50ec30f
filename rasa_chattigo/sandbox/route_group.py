"""The base of the sandbox's handler classes: each serves a route table over the running sandbox."""

from typing import TYPE_CHECKING, Sequence

from aiohttp import web

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.sandbox.app import Sandbox


class RouteGroup:
    """Handlers of some of the sandbox's paths, sharing the running sandbox and its state.

    Args:
        sandbox: the running sandbox.
    """

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        self.state = sandbox.state

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """The route table."""
        raise NotImplementedError
