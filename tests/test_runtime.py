"""Process tuning: the start-up heap frozen out of garbage-collector scans, once."""

import gc
import logging
from importlib import metadata

import pytest

from rasa_chattigo import runtime
from rasa_chattigo.compat import rasa_api
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


def _agent(action_url=None):
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    return Agent(action_endpoint=EndpointConfig(action_url) if action_url else None)


def test_an_agent_without_custom_actions_is_not_timed(caplog):
    assert rasa_api.action_answer_check_seconds(_agent()) is None
    runtime.warn_slow_action_check(_agent(), limit_seconds=0.0)
    assert "custom action" not in caplog.text


def test_rasas_check_of_an_action_answer_is_timed_and_warned_about_over_the_limit(caplog):
    from rasa.core.actions.action import RemoteAction

    if not hasattr(RemoteAction, "_validate_action_result"):
        pytest.skip("this Rasa checks custom action answers some other way: nothing to time")
    agent = _agent("http://127.0.0.1:9/webhook")  # never called: only the check runs
    seconds = rasa_api.action_answer_check_seconds(agent)
    assert seconds is not None and 0.0 < seconds < 5.0
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo.runtime"):
        runtime.warn_slow_action_check(agent, limit_seconds=3600.0)
        assert not _warnings(caplog)
        runtime.warn_slow_action_check(agent, limit_seconds=0.0)
    (record,) = _warnings(caplog)
    assert record.levelno == logging.WARNING
    assert "custom action answer" in record.getMessage()
    assert f"jsonschema {metadata.version('jsonschema')}" in record.getMessage()


def _warnings(caplog):
    return [record for record in caplog.records if record.name == "rasa_chattigo.runtime"]


def test_the_time_is_rasas_own_check_at_its_fastest(monkeypatch):
    import time

    from rasa.core.actions.action import RemoteAction

    if not hasattr(RemoteAction, "_validate_action_result"):
        pytest.skip("this Rasa checks custom action answers some other way: nothing to time")
    calls = []

    def slow_check(self, result):
        calls.append(result)
        time.sleep(0.05 if len(calls) == 1 else 0.02)
        return True

    monkeypatch.setattr(RemoteAction, "_validate_action_result", slow_check)
    seconds = rasa_api.action_answer_check_seconds(_agent("http://127.0.0.1:9/webhook"))
    assert len(calls) == 3
    assert 0.02 <= seconds < 0.05


def test_a_check_that_fails_is_not_a_start_up_failure(monkeypatch):
    from rasa.core.actions.action import RemoteAction

    def refused(self, result):
        raise ValueError("Rasa refused the endpoint")

    monkeypatch.setattr(RemoteAction, "_validate_action_result", refused, raising=False)
    assert rasa_api.action_answer_check_seconds(_agent("http://127.0.0.1:9/webhook")) is None
