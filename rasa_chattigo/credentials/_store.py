"""The SQL credentials store: one row per WhatsApp business number (DID), passwords encrypted."""

import asyncio
import functools
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, List, Optional, TypeVar

from sqlalchemy.engine import Row

from rasa_chattigo.credentials._crypto import ENC_PREFIX, Keyring, Secret
from rasa_chattigo.credentials._records import (
    CredentialInfo,
    StoredCredentials,
    TTLCache,
    check_fields,
    info_from_row,
    token_of,
)
from rasa_chattigo.credentials._table import CredentialsTable
from rasa_chattigo.errors import (
    CredentialNotFound,
    DuplicateCredential,
    UnknownBusinessNumber,
)
from rasa_chattigo.settings import safe_url

logger = logging.getLogger(__name__)

DEFAULT_STORE_URL = "sqlite:///chattigo.db"
#: Names the store when neither `--store` nor the `credentials_store` setting does.
STORE_ENV = "CHATTIGO_CREDENTIALS_STORE"
DEFAULT_CACHE_SECONDS = 30.0

T = TypeVar("T")


class CredentialStore:
    """Chattigo logins of many business numbers in one SQL table.

    Reads are cached in memory for `cache_seconds`; writes through this object clear the
    cache, while writes by another process (the CLI) show up once the entry expires.

    Args:
        url: any SQLAlchemy URL; SQLite file by default, PostgreSQL via psycopg2.
        keyring: encrypts new passwords with its first key; any of its keys decrypts.
        cache_seconds: how long a read is served from memory; 0 turns the cache off.
        clock: monotonic clock of the cache, injectable for tests.
        utcnow: wall clock for created_at/updated_at, injectable for tests.
    """

    def __init__(
        self,
        url: str = DEFAULT_STORE_URL,
        keyring: Optional[Keyring] = None,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        utcnow: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.url = safe_url(url)
        self.keyring = keyring if keyring is not None else Keyring()
        self._utcnow = utcnow
        self._table = CredentialsTable(url)
        self._cache = TTLCache(cache_seconds, clock)

    def __repr__(self) -> str:
        return f"CredentialStore(url={self.url!r}, keyring={self.keyring!r})"

    def _invalidate(self) -> None:
        self._cache.clear()

    def create_all(self) -> None:
        """Creates the `chattigo_credentials` table when it does not exist yet."""
        self._table.create()

    def close(self) -> None:
        """Closes pooled connections."""
        self._table.dispose()

    def _encrypt(self, password: str) -> str:
        return ENC_PREFIX + self.keyring.encrypt(password)

    def _fetch(self, did: str) -> Optional[Row]:
        hit, row = self._cache.get(("row", did))
        if hit:
            return row
        row = self._table.row(did)
        self._cache.put(("row", did), row)
        return row

    def _credentials(
        self, row: Optional[Row], include_disabled: bool
    ) -> Optional[StoredCredentials]:
        if row is None or (not row.enabled and not include_disabled):
            return None
        what = f"password of DID {row.did}"
        password = self.keyring.decrypt(token_of(row.password_encrypted), what=what)
        return StoredCredentials(**vars(info_from_row(row)), password=Secret(password))

    def add(
        self, did: str, *, username: str, password: str, name: str = "", bot_name: str = "Bot",
        organization_id: Optional[str] = None, enabled: bool = True,
    ) -> CredentialInfo:
        """Stores a new business number; the password is encrypted under the first key.

        Raises:
            InvalidCredentialField: naming the first bad field.
            DuplicateCredential: when the DID is already stored.
            CredentialError: when no key is configured.
        """
        values = check_fields(
            {"did": did, "username": username, "password": password, "name": name,
             "bot_name": bot_name, "organization_id": organization_id, "enabled": enabled},
            required=("did", "username", "password"),
        )
        values["password_encrypted"] = self._encrypt(values.pop("password"))
        now = self._utcnow()
        values.update(created_at=now, updated_at=now)
        try:
            if not self._table.insert(did, values):
                raise DuplicateCredential(did)
        finally:
            self._invalidate()
        logger.info("Stored Chattigo credentials for DID %s", did)
        return self.info(did)

    def get(self, did: str, include_disabled: bool = False) -> Optional[StoredCredentials]:
        """The decrypted login of `did`, or None when unknown (or disabled, by default).

        Raises:
            CredentialError: when the stored password cannot be decrypted with the keyring.
        """
        return self._credentials(self._fetch(did), include_disabled)

    def info(self, did: str) -> CredentialInfo:
        """Everything stored for `did` except the password.

        Raises:
            CredentialNotFound: when the DID is not stored.
        """
        row = self._fetch(did)
        if row is None:
            raise CredentialNotFound(did)
        return info_from_row(row)

    def list(self) -> List[CredentialInfo]:
        """Every stored number, enabled or not, ordered by DID; no passwords."""
        return [info_from_row(row) for row in self._table.rows()]

    def enabled_dids(self) -> List[str]:
        """The DIDs of enabled rows, sorted; cached like `get`."""
        hit, dids = self._cache.get("dids")
        if hit:
            return list(dids)
        dids = self._table.enabled_dids()
        self._cache.put("dids", dids)
        return list(dids)

    def update(self, did: str, /, **changes: Any) -> CredentialInfo:
        """Changes some of name, username, password, bot_name, organization_id, enabled.

        Raises:
            InvalidCredentialField: naming an unknown or bad field, or when nothing changes.
            CredentialNotFound: when the DID is not stored.
        """
        values = check_fields(changes, required=(), updating=True)
        if "password" in values:
            values["password_encrypted"] = self._encrypt(values.pop("password"))
        values["updated_at"] = self._utcnow()
        try:
            if not self._table.update(did, values):
                raise CredentialNotFound(did)
        finally:
            self._invalidate()
        logger.info("Updated Chattigo credentials for DID %s (%s)", did,
                    ", ".join(sorted(changes)))
        return self.info(did)

    def remove(self, did: str) -> None:
        """Deletes the row of `did`.

        Raises:
            CredentialNotFound: when the DID is not stored.
        """
        try:
            if not self._table.delete(did):
                raise CredentialNotFound(did)
        finally:
            self._invalidate()
        logger.info("Removed Chattigo credentials for DID %s", did)

    def rotate(self, new_keyring: Optional[Keyring] = None) -> int:
        """Re-encrypts every password under the first key, all rows in one transaction.

        Args:
            new_keyring: the keys to move to, newest first; the current keys still decrypt.
                Without it, rows move to the first key of the current keyring.

        Returns:
            How many rows were re-encrypted.

        Raises:
            CredentialError: naming the DID whose password no key opens; nothing is changed.
        """
        keyring = new_keyring.merged(self.keyring) if new_keyring is not None else self.keyring

        def reencrypt(did: str, stored: str) -> str:
            what = f"password of DID {did}"
            return ENC_PREFIX + keyring.reencrypt(token_of(stored), what=what)

        try:
            count = self._table.rewrite_passwords(reencrypt)
        finally:
            self._invalidate()
        self.keyring = keyring
        logger.info("Re-encrypted %d stored password(s) under key %s", count,
                    keyring.fingerprints[0] if keyring else None)
        return count

    # Async wrappers: the blocking calls run in the default executor; cache hits do not.

    async def _run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))

    async def aget(self, did: str, include_disabled: bool = False) -> Optional[StoredCredentials]:
        """`get` for async code; a cache hit answers without leaving the event loop."""
        hit, row = self._cache.get(("row", did))
        if hit:
            return self._credentials(row, include_disabled)
        return await self._run(self.get, did, include_disabled)

    async def arequire(self, did: str) -> StoredCredentials:
        """The enabled login of `did`, for the channel.

        Raises:
            UnknownBusinessNumber: when the DID is unknown or disabled.
        """
        found = await self.aget(did)
        if found is None:
            raise UnknownBusinessNumber(did)
        return found

    async def ainfo(self, did: str) -> CredentialInfo:
        """`info` for async code."""
        return await self._run(self.info, did)

    async def alist(self) -> List[CredentialInfo]:
        """`list` for async code."""
        return await self._run(self.list)

    async def aenabled_dids(self) -> List[str]:
        """`enabled_dids` for async code; a cache hit answers without leaving the event loop."""
        hit, dids = self._cache.get("dids")
        if hit:
            return list(dids)
        return await self._run(self.enabled_dids)

    async def aadd(self, did: str, /, **fields: Any) -> CredentialInfo:
        """`add` for async code."""
        return await self._run(self.add, did, **fields)

    async def aupdate(self, did: str, /, **changes: Any) -> CredentialInfo:
        """`update` for async code."""
        return await self._run(self.update, did, **changes)

    async def aremove(self, did: str) -> None:
        """`remove` for async code."""
        await self._run(self.remove, did)

    async def arotate(self, new_keyring: Optional[Keyring] = None) -> int:
        """`rotate` for async code."""
        return await self._run(self.rotate, new_keyring)
