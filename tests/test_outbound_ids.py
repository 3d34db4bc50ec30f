"""Message ids: unique in a tight loop, across threads, processes and forks."""

import multiprocessing
import re
import subprocess
import sys
import threading
import time

from rasa_chattigo.outbound._build import new_message_id

ID_FORM = re.compile(r"(\d{13})-([0-9a-f]{12})-([0-9a-f]{6,})")


def test_id_has_a_millisecond_timestamp_token_and_counter():
    before = int(time.time() * 1000)
    match = ID_FORM.fullmatch(new_message_id())
    assert match is not None
    assert before - 1000 <= int(match.group(1)) <= int(time.time() * 1000) + 1000


def test_100000_ids_in_a_tight_loop_are_unique():
    ids = [new_message_id() for _ in range(100_000)]
    assert len(set(ids)) == 100_000


def test_ids_from_many_threads_are_unique():
    found = []

    def work():
        found.extend(new_message_id() for _ in range(5_000))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 40_000


def _ids_from_new_process(count):
    code = (
        "from rasa_chattigo.outbound._build import new_message_id\n"
        f"print('\\n'.join(new_message_id() for _ in range({count})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    return done.stdout.split()


def test_two_processes_do_not_collide():
    first, second = _ids_from_new_process(20_000), _ids_from_new_process(20_000)
    assert len(first) == len(second) == 20_000
    assert set(first).isdisjoint(second)


def _child(queue):
    queue.put([new_message_id() for _ in range(1_000)])


def test_a_forked_child_gets_its_own_token():
    parent = [new_message_id() for _ in range(1_000)]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue,))
    process.start()
    child = queue.get(timeout=60)
    process.join(timeout=60)
    assert set(parent).isdisjoint(child)
    assert ID_FORM.fullmatch(parent[0]).group(2) != ID_FORM.fullmatch(child[0]).group(2)
