"""The SQL of the credentials table: one statement a method, SQLAlchemy's errors as StoreError."""

from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from rasa_chattigo.credentials._records import credentials_table, make_engine, metadata
from rasa_chattigo.errors import StoreError
from rasa_chattigo.settings import safe_url

_TABLE = credentials_table


class CredentialsTable:
    """The `chattigo_credentials` table behind one SQLAlchemy URL; no cache, no cryptography.

    Args:
        url: any SQLAlchemy URL; errors name it without its password.
    """

    def __init__(self, url: str) -> None:
        self._url = safe_url(url)
        self._engine = make_engine(url)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()
            raise StoreError(
                f"credentials store {self._url}: cannot {doing}: {cause[0] if cause else exc}"
            ) from None

    def create(self) -> None:
        """Creates the table when it does not exist yet."""
        with self._errors("create the table"):
            metadata.create_all(self._engine, checkfirst=True)

    def dispose(self) -> None:
        """Closes pooled connections."""
        self._engine.dispose()

    def row(self, did: str) -> Optional[Row]:
        """The row of `did`, or None."""
        with self._errors(f"read DID {did}"), self._engine.connect() as conn:
            return conn.execute(select(_TABLE).where(_TABLE.c.did == did)).first()

    def rows(self) -> List[Row]:
        """Every row, ordered by DID."""
        with self._errors("list credentials"), self._engine.connect() as conn:
            return list(conn.execute(select(_TABLE).order_by(_TABLE.c.did)).all())

    def enabled_dids(self) -> List[str]:
        """The DIDs of enabled rows, sorted."""
        query = select(_TABLE.c.did).where(_TABLE.c.enabled.is_(True))
        with self._errors("list enabled DIDs"), self._engine.connect() as conn:
            return sorted(conn.execute(query).scalars().all())

    def insert(self, did: str, values: Dict[str, Any]) -> bool:
        """Adds the row of `did`; False (and nothing added) when the DID is already stored."""
        try:
            with self._errors(f"add DID {did}"), self._engine.begin() as conn:
                conn.execute(insert(_TABLE).values(**values))
        except IntegrityError:
            return False
        return True

    def update(self, did: str, values: Dict[str, Any]) -> bool:
        """Changes the row of `did`; False when there is none."""
        query = update(_TABLE).where(_TABLE.c.did == did).values(**values)
        with self._errors(f"update DID {did}"), self._engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def delete(self, did: str) -> bool:
        """Deletes the row of `did`; False when there is none."""
        query = delete(_TABLE).where(_TABLE.c.did == did)
        with self._errors(f"remove DID {did}"), self._engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def rewrite_passwords(self, rewrite: Callable[[str, str], str]) -> int:
        """Replaces every stored password by `rewrite(did, stored)`, all in one transaction.

        An error raised by `rewrite` rolls every row back. Returns how many rows were rewritten.
        """
        with self._errors("re-encrypt credentials"), self._engine.begin() as conn:
            query = select(_TABLE.c.id, _TABLE.c.did, _TABLE.c.password_encrypted)
            rows = conn.execute(query).all()
            for row in rows:
                fresh = rewrite(row.did, row.password_encrypted)
                conn.execute(
                    update(_TABLE).where(_TABLE.c.id == row.id).values(password_encrypted=fresh)
                )
        return len(rows)
