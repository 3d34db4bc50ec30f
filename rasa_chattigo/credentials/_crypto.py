"""Fernet keys with rotation, `enc:` values, and a `Secret` holder that hides itself in reprs."""

import hashlib
import hmac
import logging
import os
import stat
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from rasa_chattigo.errors import CredentialError

logger = logging.getLogger(__name__)

#: Marks a value as a Fernet token, so plain and encrypted values can share one setting.
ENC_PREFIX = "enc:"
#: One key, or several comma-separated: the first encrypts, all decrypt.
KEY_ENV = "CHATTIGO_SECRET_KEY"

_WHAT_TO_DO = (
    f"set {KEY_ENV} to the key that encrypted it, or re-encrypt with `rasa-chattigo encrypt`"
)


class Secret:
    """A string that shows as `Secret('***')` in reprs, f-strings and logs.

    Use `reveal()` at the one place the value is really needed (the login request).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """The held value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __copy__(self) -> "Secret":
        return self

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Secret":
        return self

    def __reduce__(self) -> Tuple[Any, ...]:
        # Pickling would write the value out in clear: refuse rather than leak it.
        raise TypeError("Secret cannot be pickled")


def generate_key() -> str:
    """A new random Fernet key (32 bytes, url-safe base64)."""
    return Fernet.generate_key().decode("ascii")


def fingerprint(key: Union[str, bytes]) -> str:
    """First 8 hex characters of the key's SHA-256: tells keys apart without showing them."""
    raw = key.encode("ascii") if isinstance(key, str) else key
    return hashlib.sha256(raw.strip()).hexdigest()[:8]


class Keyring:
    """The configured Fernet keys; the first encrypts, every one of them decrypts.

    Args:
        keys: Fernet keys, newest first. An empty keyring is allowed: plain values still
            resolve, while encrypting or reading an `enc:` value raises CredentialError.
        source: where the keys came from, named in error messages (never the keys).

    Raises:
        CredentialError: naming the position of a key that is not a valid Fernet key.
    """

    def __init__(self, keys: Sequence[Union[str, bytes]] = (), *, source: str = "keys") -> None:
        fernets: List[Fernet] = []
        prints: List[str] = []
        for position, key in enumerate(keys, start=1):
            raw = key.encode("ascii", "replace") if isinstance(key, str) else key
            try:
                fernets.append(Fernet(raw.strip()))
            except (ValueError, TypeError):
                raise CredentialError(
                    f"{source}: key {position} is not a valid Fernet key (32 url-safe "
                    "base64-encoded bytes); make one with `rasa-chattigo keygen`"
                ) from None
            prints.append(fingerprint(raw))
        self._fernets = fernets
        self._multi = MultiFernet(fernets) if fernets else None
        self.fingerprints = prints
        self.source = source

    def __repr__(self) -> str:
        primary = self.fingerprints[0] if self.fingerprints else None
        return f"Keyring(keys={len(self)}, primary={primary!r})"

    def __len__(self) -> int:
        return len(self._fernets)

    def __bool__(self) -> bool:
        return bool(self._fernets)

    def merged(self, older: "Keyring") -> "Keyring":
        """This keyring followed by the keys of `older` it lacks, so old tokens still decrypt."""
        merged = Keyring(source=self.source)
        merged._fernets = list(self._fernets)
        merged.fingerprints = list(self.fingerprints)
        for fernet, print_ in zip(older._fernets, older.fingerprints):
            if print_ not in merged.fingerprints:
                merged._fernets.append(fernet)
                merged.fingerprints.append(print_)
        merged._multi = MultiFernet(merged._fernets) if merged._fernets else None
        return merged

    def encrypt(self, plain: str) -> str:
        """A raw Fernet token of `plain` under the first key.

        Raises:
            CredentialError: when no key is configured.
        """
        if self._multi is None:
            raise CredentialError(
                f"cannot encrypt: no key is configured; set {KEY_ENV} "
                "(make a key with `rasa-chattigo keygen`)"
            )
        return self._multi.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, what: str) -> str:
        """The plain text of a raw Fernet token.

        Raises:
            CredentialError: naming `what`, when no key is configured, no key fits,
                or the token was altered.
        """
        if self._multi is None:
            raise CredentialError(f"cannot decrypt {what}: no key is configured; {_WHAT_TO_DO}")
        try:
            return self._multi.decrypt(token.encode("ascii", "replace")).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError):
            raise CredentialError(
                f"cannot decrypt {what}: no configured key opens it (wrong key, or the value "
                f"was altered); {_WHAT_TO_DO}"
            ) from None

    def reencrypt(self, token: str, *, what: str) -> str:
        """The same plain text as `token`, encrypted again under the first key."""
        return self.encrypt(self.decrypt(token, what=what))


def is_encrypted(value: str) -> bool:
    """Whether `value` is an `enc:<token>` value."""
    return value.startswith(ENC_PREFIX)


def encrypt_value(plain: str, keyring: Keyring) -> str:
    """`plain` encrypted under the keyring's first key, as `enc:<fernet token>`."""
    return ENC_PREFIX + keyring.encrypt(plain)


def resolve_secret(value: str, keyring: Keyring, *, what: str) -> str:
    """The plain text of a setting: plain values pass through, `enc:` values are decrypted.

    Args:
        value: a plain value or `enc:<fernet token>`.
        keyring: the keys to decrypt with.
        what: names the value in errors, e.g. "password of DID 5492644710400".

    Raises:
        CredentialError: when an `enc:` value cannot be decrypted.
    """
    if not is_encrypted(value):
        return value
    return keyring.decrypt(value[len(ENC_PREFIX):], what=what)


def _split_env(raw: str) -> List[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _read_key_file(path: str) -> List[str]:
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise CredentialError(
            f"secret_key_file {path}: cannot read it ({exc.strerror or type(exc).__name__})"
        ) from None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning("Secret key file %s is readable by other users; chmod 600 it", path)
    keys = [line.split("#", 1)[0].strip() for line in lines]
    keys = [key for key in keys if key]
    if not keys:
        raise CredentialError(f"secret_key_file {path}: holds no key (one Fernet key per line)")
    return keys


def load_keyring(
    key_file: Optional[str] = None, environ: Optional[Mapping[str, str]] = None
) -> Keyring:
    """The keys from `key_file` when given, else from CHATTIGO_SECRET_KEY, else none.

    A key file holds one key per line, newest first; `#` starts a comment.

    Raises:
        CredentialError: when the file cannot be read, or holds a malformed key.
    """
    env = os.environ if environ is None else environ
    if key_file:
        keys: Iterable[str] = _read_key_file(key_file)
        source = f"secret_key_file {key_file}"
    else:
        keys = _split_env(env.get(KEY_ENV, ""))
        source = KEY_ENV
    keyring = Keyring(list(keys), source=source)
    logger.debug("Loaded %d secret key(s) from %s, primary %s", len(keyring), source,
                 keyring.fingerprints[0] if keyring else None)
    return keyring
