"""Where the channel finds each business number's login: credentials.yml or the store."""

import logging
from typing import Optional

from rasa_chattigo.client import CredentialsProvider, Login
from rasa_chattigo.errors import UnknownBusinessNumber
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)


class InlineCredentials:
    """The single business number configured inline in credentials.yml.

    Args:
        login: the DID's login, its password already decrypted.
    """

    def __init__(self, login: Login) -> None:
        self._login = login

    def __repr__(self) -> str:
        return f"InlineCredentials(did={self._login.did!r})"

    @property
    def default_did(self) -> str:
        """The one number served."""
        return self._login.did

    async def get(self, did: str) -> Login:
        """The login of `did`; only the configured number has one."""
        if did != self._login.did:
            raise UnknownBusinessNumber(did)
        return self._login


def inline_login(settings: ChattigoSettings, password: str) -> Login:
    """The Login of the inline number, with `password` already resolved from `enc:`."""
    assert settings.did and settings.username  # parse_settings guarantees them inline
    return Login(settings.did, settings.username, password, settings.bot_name)


def default_did(provider: CredentialsProvider, settings: ChattigoSettings) -> Optional[str]:
    """The number proactive messages leave from when the recipient id does not name one."""
    return settings.did or getattr(provider, "default_did", None)
