"""Where the channel finds each business number's login: credentials.yml or the store."""

import logging
import os
from typing import Optional

from rasa_chattigo.client import CredentialsProvider, Login
from rasa_chattigo.credentials._crypto import load_keyring, resolve_secret
from rasa_chattigo.credentials._store import STORE_ENV, CredentialStore
from rasa_chattigo.errors import ConfigError, UnknownBusinessNumber
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


class StoreCredentials:
    """The enabled numbers of a credentials store (cached reads, so no query per message).

    Args:
        store: the SQL credentials store.
        default_did: the number proactive messages leave from when the recipient id names none.
    """

    def __init__(self, store: CredentialStore, default_did: Optional[str] = None) -> None:
        self.store = store
        self.default_did = default_did

    def __repr__(self) -> str:
        return f"StoreCredentials(store={self.store!r})"

    async def get(self, did: str) -> Login:
        """The login of an enabled `did`; raises UnknownBusinessNumber otherwise."""
        found = await self.store.arequire(did)
        return Login(found.did, found.username, found.password.reveal(), found.bot_name)

    def verify(self) -> int:
        """Decrypts every enabled row once, so a wrong key stops start-up naming the DID."""
        dids = self.store.enabled_dids()
        for did in dids:
            self.store.get(did)
        return len(dids)


def provider_from_settings(settings: ChattigoSettings) -> CredentialsProvider:
    """The credentials the settings describe, checked now so that problems stop start-up.

    Raises:
        ConfigError, CredentialError: naming the setting or DID that failed.
    """
    keyring = load_keyring(settings.secret_key_file)
    if settings.credentials_store:
        store = CredentialStore(settings.credentials_store, keyring)
        store.create_all()
        provider = StoreCredentials(store, default_did=settings.did)
        served = provider.verify()
        if not served:
            logger.warning("Credentials store %s holds no enabled number yet; add one with "
                           "`rasa-chattigo credentials add`", store.url)
        logger.info("Serving %d business number(s) from %s", served, store.url)
        return provider
    assert settings.did and settings.username and settings.password  # parse_settings checked
    password = resolve_secret(settings.password, keyring, what="setting 'password'")
    return InlineCredentials(Login(settings.did, settings.username, password, settings.bot_name))


def provider_for_cli(did: str, *, store: Optional[str], key_file: Optional[str]
                     ) -> CredentialsProvider:
    """Credentials for one-off CLI verbs: the store when one is named, else the environment."""
    keyring = load_keyring(key_file)
    url = store or os.environ.get(STORE_ENV)
    if url:
        return StoreCredentials(CredentialStore(url, keyring))
    username = os.environ.get("CHATTIGO_USERNAME")
    password = os.environ.get("CHATTIGO_PASSWORD")
    if not username or not password:
        raise ConfigError("CHATTIGO_USERNAME/CHATTIGO_PASSWORD",
                          "set both, or name a credentials store with --store")
    plain = resolve_secret(password, keyring, what="CHATTIGO_PASSWORD")
    return InlineCredentials(Login(did, username, plain))


def default_did(provider: CredentialsProvider, settings: ChattigoSettings) -> Optional[str]:
    """The number proactive messages leave from when the recipient id does not name one."""
    return settings.did or getattr(provider, "default_did", None)
