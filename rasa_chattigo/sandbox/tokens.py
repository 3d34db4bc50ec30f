"""Access tokens as Chattigo issues them: HS512 JWTs, valid for a fixed time, revocable at once."""

import logging
import secrets
import time
from typing import Callable

import jwt

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_TTL = 8 * 3600
BEARER = "Bearer "


class TokenRejected(Exception):
    """A token that does not authorise the request; the message says why (never the token)."""


class TokenIssuer:
    """Issues and checks the sandbox's JWTs.

    The signing key is random per issuer, so tokens from another sandbox process never pass.
    Expiry is checked against the injected clock, so tests can move time instead of sleeping.

    Args:
        ttl: seconds a token stays valid (Chattigo: 8 hours).
        clock: returns the current Unix time in seconds.
    """

    def __init__(self, ttl: float = DEFAULT_TOKEN_TTL, clock: Callable[[], float] = time.time):
        if ttl <= 0:
            raise ValueError("token ttl must be positive")
        self.ttl = ttl
        self._clock = clock
        self._key = secrets.token_bytes(64)
        self._generation = 0

    def __repr__(self) -> str:
        return f"TokenIssuer(ttl={self.ttl}, generation={self._generation})"

    def issue(self, username: str) -> str:
        """A new token for `username`."""
        now = self._clock()
        claims = {
            "sub": username,
            "iat": int(now),
            "exp": now + self.ttl,
            "jti": secrets.token_hex(8),
            "gen": self._generation,
        }
        return jwt.encode(claims, self._key, algorithm="HS512")

    def verify(self, token: str) -> str:
        """The username a token was issued to.

        Raises:
            TokenRejected: malformed, wrongly signed, revoked or expired.
        """
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS512"],
                # Time is checked below against the sandbox's clock, which may have been moved.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise TokenRejected("invalid token") from None
        if claims.get("gen") != self._generation:
            raise TokenRejected("token revoked")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or self._clock() >= exp:
            raise TokenRejected("token expired")
        return str(claims["sub"])

    def expire_all(self) -> None:
        """Every token issued so far stops working."""
        self._generation += 1
        logger.info("Sandbox: every token issued so far was expired")


def token_from_header(header: str, *, bare_allowed: bool) -> str:
    """The token in an Authorization header value.

    Args:
        header: the raw header value (may be empty).
        bare_allowed: accept the token without the `Bearer ` prefix, as one production
            integration sends it when registering webhooks.

    Raises:
        TokenRejected: the header is missing or malformed.
    """
    value = header.strip()
    if not value:
        raise TokenRejected("missing Authorization header")
    if value[: len(BEARER)].lower() == BEARER.lower():
        token = value[len(BEARER) :].strip()
    elif bare_allowed and " " not in value:
        token = value
    else:
        raise TokenRejected("Authorization header must be 'Bearer <token>'")
    if not token:
        raise TokenRejected("empty token")
    return token
