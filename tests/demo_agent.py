"""The trained demo bot in process behind a real Sanic server, with the sandbox playing Chattigo
(`stack`); the `agent` fixture that loads the bot is in conftest.py."""

import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List

import httpx
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.sandbox import Sandbox, build_cloud_webhook

from conftest import DID, channel_settings, one_user_sandbox, serve_sanic

WEBHOOK = "/webhooks/chattigo/webhook"
Sanic.test_mode = True


class Stack:
    """The channel behind a real Sanic server with the agent, and the sandbox; one user."""

    def __init__(self, agent: Any, sandbox: Sandbox, channel: ChattigoInput, url: str,
                 app: Sanic) -> None:
        self.agent, self.sandbox, self.channel, self.url = agent, sandbox, channel, url
        self.app = app  # `app.ctx.agent` is the agent turns go to, as under `rasa run`
        self.user = "549264" + str(uuid.uuid4().int)[:7]
        self.http = httpx.AsyncClient(base_url=url, timeout=60)

    async def post(self, body: Dict[str, Any]) -> Dict[str, Any]:
        answer = await self.http.post(WEBHOOK, json=body)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def say(self, text: str) -> List[Dict[str, Any]]:
        """The user writes; the bot's sends that reached the sandbox for it."""
        before = len(self.sent())
        await self.post(build_cloud_webhook("text", did=DID, msisdn=self.user, text=text))
        return self.sent()[before:]

    def sent(self) -> List[Dict[str, Any]]:
        return [m.payload for m in self.sandbox.state.select(direction="out", did=DID,
                                                             msisdn=self.user)]

    async def agent_side(self, action: str, **body: Any) -> Dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.sandbox.url, timeout=60) as http:
            answer = await http.post(f"/sandbox/agent/{DID}/{self.user}/{action}", json=body)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def tracker(self) -> Any:
        return await self.agent.tracker_store.retrieve(self.user)


@asynccontextmanager
async def stack(agent: Any, **settings: Any) -> AsyncIterator[Stack]:
    async with one_user_sandbox(window=settings.pop("window", False)) as sandbox:
        channel = ChattigoInput.from_credentials(channel_settings(
            base_url=sandbox.url, **{"ack": "inline", **settings}))
        app = Sanic(f"test_handoff_{uuid.uuid4().hex}", configure_logging=False)
        app.ctx.agent = agent

        async def on_new_message(message: Any) -> None:  # as Rasa's `register` binds it
            await app.ctx.agent.handle_message(message)

        app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
        async with serve_sanic(app) as url:
            sandbox.state.webhooks[DID] = url + WEBHOOK
            running = Stack(agent, sandbox, channel, url, app)
            try:
                yield running
            finally:
                await running.http.aclose()
