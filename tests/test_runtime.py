"""Process tuning: the start-up heap frozen out of garbage-collector scans, once."""

import gc

import pytest

from rasa_chattigo import runtime
from rasa_chattigo.settings import parse_settings


@pytest.fixture
def unfrozen(monkeypatch):
    monkeypatch.setattr(runtime, "_frozen", False)
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezing_moves_the_live_heap_out_of_collections(unfrozen):
    runtime.freeze_startup_heap()
    assert gc.get_freeze_count() > 0


def test_freezing_happens_once_per_process(unfrozen):
    runtime.freeze_startup_heap()
    gc.unfreeze()
    runtime.freeze_startup_heap()
    assert gc.get_freeze_count() == 0


def test_gc_freeze_is_on_by_default_and_can_be_turned_off():
    base = {"did": "5492644710400", "username": "u@x", "password": "pw"}
    assert parse_settings(base).gc_freeze is True
    assert parse_settings({**base, "gc_freeze": False}).gc_freeze is False
