"""Tests of the SQL credentials store, each run on SQLite and on PostgreSQL when reachable."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.exc import OperationalError

from rasa_chattigo.credentials._crypto import Keyring
from rasa_chattigo.credentials._records import credentials_table
from rasa_chattigo.credentials._store import CredentialStore
from rasa_chattigo.errors import (
    CredentialError,
    CredentialNotFound,
    DuplicateCredential,
    InvalidCredentialField,
    StoreError,
    UnknownBusinessNumber,
)

from conftest import port_open

KEY_A = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
KEY_B = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
KEY_C = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="
DID = "5492644710400"
OTHER_DID = "5215512345678"
PASSWORD = "Chattigo-Passw0rd!"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


class Clocks:
    """A monotonic clock for the cache and a wall clock for timestamps, both moved by hand."""

    def __init__(self) -> None:
        self.monotonic = 1000.0
        self.wall = T0

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/chattigo.db"
        return
    if not port_open("127.0.0.1", 5432):
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432 (trust auth, user postgres, db test)")
    admin = create_engine(POSTGRES, future=True)
    schema = f"test_credentials_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 refused user postgres / db test: {exc.orig}")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def clocks():
    return Clocks()


@pytest.fixture
def open_store(store_url, clocks):
    opened = []

    def open_(*keys, **options):
        store = CredentialStore(store_url, Keyring(list(keys or [KEY_A])),
                                clock=lambda: clocks.monotonic, utcnow=lambda: clocks.wall,
                                **options)
        store.create_all()
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store):
    return open_store()


def add(store, did=DID, **fields):
    values = {"name": "WhatsApp Principal", "username": "bot@empresa", "password": PASSWORD,
              "bot_name": "Aynux", "organization_id": "org-1", **fields}
    return store.add(did, **values)


def raw_password(store_url, did=DID):
    engine = create_engine(store_url, future=True)
    try:
        with engine.connect() as conn:
            query = select(credentials_table.c.password_encrypted).where(
                credentials_table.c.did == did)
            return conn.execute(query).scalar_one()
    finally:
        engine.dispose()


def test_added_number_reads_back_with_its_password(store):
    add(store)

    found = store.get(DID)

    assert (found.did, found.name, found.username, found.bot_name, found.organization_id,
            found.enabled) == (DID, "WhatsApp Principal", "bot@empresa", "Aynux", "org-1", True)
    assert found.password.reveal() == PASSWORD
    assert (found.created_at, found.updated_at) == (T0, T0)


def test_column_holds_an_encrypted_value_never_the_password(store, store_url):
    add(store)

    stored = raw_password(store_url)

    assert stored.startswith("enc:")
    assert PASSWORD not in stored
    assert Keyring([KEY_A]).decrypt(stored[4:], what="x") == PASSWORD


def test_repr_of_stored_credentials_hides_the_password(store):
    add(store)

    assert PASSWORD not in repr(store.get(DID))
    assert PASSWORD not in str(store.get(DID))


def test_unknown_number_gives_none(store):
    assert store.get(DID) is None


def test_disabled_number_is_hidden_unless_asked_for(store):
    add(store, enabled=False)

    assert store.get(DID) is None
    assert store.get(DID, include_disabled=True).enabled is False


def test_list_is_ordered_by_did_and_carries_no_password(store):
    add(store, DID)
    add(store, OTHER_DID, enabled=False)

    rows = store.list()

    assert [(row.did, row.enabled) for row in rows] == [(OTHER_DID, False), (DID, True)]
    assert all(not hasattr(row, "password") for row in rows)
    assert rows[1].to_dict() == {
        "did": DID, "name": "WhatsApp Principal", "username": "bot@empresa", "bot_name": "Aynux",
        "organization_id": "org-1", "enabled": True,
        "created_at": "2024-05-01T12:00:00.123456+00:00",
        "updated_at": "2024-05-01T12:00:00.123456+00:00"}


def test_enabled_dids_leaves_out_disabled_numbers(store):
    add(store, DID)
    add(store, OTHER_DID)
    add(store, "5491100000000", enabled=False)

    assert store.enabled_dids() == [OTHER_DID, DID]


def test_second_add_of_a_number_is_refused(store):
    add(store)

    with pytest.raises(DuplicateCredential) as caught:
        add(store, username="other")

    assert str(caught.value) == (f"credentials for business number {DID} are stored already; "
                                 "update or remove them instead")


@pytest.mark.parametrize("did", ["+5492644710400", "549 264", "", "٥٤٩"])
def test_did_must_be_ascii_digits(store, did):
    with pytest.raises(InvalidCredentialField) as caught:
        add(store, did)

    assert caught.value.field == "did"


def test_missing_username_is_named(store):
    with pytest.raises(InvalidCredentialField) as caught:
        add(store, username="  ")

    assert str(caught.value) == "username: is required"


def test_update_changes_fields_and_updated_at_only(store, clocks):
    add(store)
    clocks.advance(60)

    info = store.update(DID, name="Ventas", organization_id="")

    assert (info.name, info.organization_id) == ("Ventas", None)
    assert (info.created_at, info.updated_at) == (T0, T0 + timedelta(seconds=60))


def test_update_of_password_reencrypts_it(store, store_url):
    add(store)
    before = raw_password(store_url)

    store.update(DID, password="N3w-Password")

    assert raw_password(store_url) != before
    assert store.get(DID).password.reveal() == "N3w-Password"


def test_update_of_an_unknown_number_is_refused(store):
    with pytest.raises(CredentialNotFound) as caught:
        store.update(DID, name="x")

    assert str(caught.value) == f"no Chattigo credentials stored for business number {DID}"


def test_update_of_an_unknown_field_is_refused(store):
    add(store)

    with pytest.raises(InvalidCredentialField) as caught:
        store.update(DID, colour="blue")

    assert str(caught.value) == ("colour: unknown field (expected one of: name, username, "
                                 "password, bot_name, organization_id, enabled)")


def test_update_cannot_change_the_did(store):
    add(store)

    with pytest.raises(InvalidCredentialField) as caught:
        store.update(DID, did=OTHER_DID)

    assert str(caught.value) == "did: cannot be changed; remove and add the number"


def test_update_without_changes_is_refused(store):
    add(store)

    with pytest.raises(InvalidCredentialField) as caught:
        store.update(DID)

    assert str(caught.value) == "changes: nothing to update"


def test_removed_number_is_gone(store):
    add(store)

    store.remove(DID)

    assert store.get(DID, include_disabled=True) is None
    assert store.list() == []


def test_remove_of_an_unknown_number_is_refused(store):
    with pytest.raises(CredentialNotFound):
        store.remove(DID)


def test_rotation_changes_the_column_but_not_the_password(store, store_url, open_store):
    add(store, DID)
    add(store, OTHER_DID)
    before = raw_password(store_url)

    count = store.rotate(Keyring([KEY_B]))

    assert count == 2
    assert raw_password(store_url) != before
    assert store.get(DID).password.reveal() == PASSWORD
    assert open_store(KEY_B).get(DID).password.reveal() == PASSWORD


def test_rotation_to_the_first_key_of_the_current_keyring(open_store, store_url):
    add(open_store(KEY_A))
    store = open_store(KEY_B, KEY_A)

    assert store.rotate() == 1
    assert Keyring([KEY_B]).decrypt(raw_password(store_url)[4:], what="x") == PASSWORD


def test_rotation_stops_on_an_unreadable_row_and_changes_nothing(open_store, store_url):
    store = open_store(KEY_A)
    add(store, OTHER_DID)
    add(open_store(KEY_C), DID)
    before = raw_password(store_url, OTHER_DID)

    with pytest.raises(CredentialError) as caught:
        store.rotate(Keyring([KEY_B]))

    assert str(caught.value).startswith(f"cannot decrypt password of DID {DID}: ")
    assert raw_password(store_url, OTHER_DID) == before


def test_wrong_key_names_the_did(open_store):
    add(open_store(KEY_A))

    with pytest.raises(CredentialError) as caught:
        open_store(KEY_B).get(DID)

    assert str(caught.value) == (
        f"cannot decrypt password of DID {DID}: no configured key opens it (wrong key, or the "
        "value was altered); set CHATTIGO_SECRET_KEY to the key that encrypted it, or "
        "re-encrypt with `rasa-chattigo encrypt`")


def test_plain_password_written_by_hand_is_refused(store, store_url, open_store):
    add(store)
    engine = create_engine(store_url, future=True)
    with engine.begin() as conn:
        conn.execute(update(credentials_table).values(password_encrypted=PASSWORD))
    engine.dispose()

    with pytest.raises(CredentialError) as caught:
        open_store().get(DID)

    assert PASSWORD not in str(caught.value)


def test_bare_fernet_token_in_the_column_is_read(store, store_url, open_store):
    add(store)
    engine = create_engine(store_url, future=True)
    with engine.begin() as conn:
        conn.execute(update(credentials_table).values(
            password_encrypted=Keyring([KEY_A]).encrypt("bare")))
    engine.dispose()

    assert open_store().get(DID).password.reveal() == "bare"


def test_reads_are_cached_until_the_ttl_runs_out(open_store, clocks):
    reader = open_store(cache_seconds=30)
    writer = open_store()
    assert reader.get(DID) is None
    add(writer)

    assert reader.get(DID) is None
    clocks.advance(30)
    assert reader.get(DID).did == DID


def test_writes_through_the_same_store_clear_its_cache(store):
    assert store.get(DID) is None
    assert store.enabled_dids() == []

    add(store)

    assert store.get(DID).did == DID
    assert store.enabled_dids() == [DID]


def test_zero_ttl_turns_the_cache_off(open_store):
    reader = open_store(cache_seconds=0)
    assert reader.enabled_dids() == []

    add(open_store())

    assert reader.enabled_dids() == [DID]


async def test_async_wrappers_add_and_read(store):
    await store.aadd(DID, username="bot@empresa", password=PASSWORD)

    found = await store.arequire(DID)

    assert found.password.reveal() == PASSWORD
    assert [row.did for row in await store.alist()] == [DID]
    assert await store.aenabled_dids() == [DID]


async def test_require_of_an_unknown_number_raises(store):
    with pytest.raises(UnknownBusinessNumber):
        await store.arequire(DID)


async def test_async_rotation_and_removal(store):
    await store.aadd(DID, username="bot@empresa", password=PASSWORD)

    assert await store.arotate(Keyring([KEY_B])) == 1
    await store.aremove(DID)

    assert await store.aget(DID) is None


async def test_in_memory_sqlite_is_shared_across_threads():
    store = CredentialStore("sqlite://", Keyring([KEY_A]), cache_seconds=0)
    store.create_all()
    add(store)

    found = await store.aget(DID)  # read in an executor thread

    assert found.password.reveal() == PASSWORD
    store.close()


def test_unusable_url_is_refused_without_echoing_it():
    with pytest.raises(StoreError) as caught:
        CredentialStore("not a url", Keyring([KEY_A]))

    assert str(caught.value) == (
        "credentials store (unparseable URL): cannot use it (ArgumentError); expected a "
        "SQLAlchemy URL such as sqlite:///chattigo.db or postgresql://user@host/db")


def test_unreachable_database_is_reported_without_its_password():
    store = CredentialStore("postgresql://bot:hunter2pw@127.0.0.1:1/db", Keyring([KEY_A]))

    with pytest.raises(StoreError) as caught:
        store.create_all()

    assert str(caught.value).startswith(
        "credentials store postgresql://127.0.0.1:1/db: cannot create the table: ")
    assert "hunter2pw" not in str(caught.value) + repr(store)
