"""Batch tasks on a real local Ray: results in order and equal to the sequential run,
retries said by session name, a task that keeps failing named in one line."""

import os

import pytest

from stream.app.batch import BatchOptions, run_batch
from stream.errors import StreamError
from tests.app.batch_tasks import always_fails, fails_once, omp_threads, square_slowly

pytestmark = pytest.mark.integration

RAY = BatchOptions(workers=2)


def test_results_come_back_in_order_and_equal_the_sequential_run():
    items = [(i, 0.4 if i % 2 == 0 else 0.05) for i in range(6)]  # finish out of order
    names = [f"s{i}" for i in range(6)]
    seq = run_batch(square_slowly, items, names, BatchOptions(workers=1))
    par = run_batch(square_slowly, items, names, RAY)
    assert [r for r, _ in par] == [r for r, _ in seq] == [i * i for i in range(6)]
    assert len({pid for _, pid in par}) >= 2  # really in several processes at once
    assert {pid for _, pid in seq} == {os.getpid()}  # sequential: here


def test_a_failed_task_is_retried_and_said_by_session_name(tmp_path, capsys):
    items = [(str(tmp_path / f"m{i}"), i) for i in range(3)]
    assert run_batch(fails_once, items, ["kitchen", "hall", "office"], RAY) == [0, 1, 2]
    out = capsys.readouterr().out
    for i, name in enumerate(["kitchen", "hall", "office"]):
        assert f"{name}: failed (first attempt at {i} fails); retrying (1/2)" in out


def test_a_task_that_keeps_failing_is_one_line_naming_its_session():
    with pytest.raises(StreamError) as e:
        run_batch(always_fails, [(1,), (2,)], ["kitchen", "hall"], BatchOptions(workers=2, retries=1))
    msg = str(e.value)
    assert "kitchen: failed 2 times, last: " in msg and "bad session 1" in msg
    assert "hall: failed 2 times" in msg and "\n" not in msg


@pytest.mark.parametrize("driver", [None, "2"])
def test_a_task_sees_the_drivers_openmp_threads_not_rays(driver, monkeypatch):
    # Ray sets OMP_NUM_THREADS=1 in its workers; the recogniser's arithmetic depends on it.
    if driver is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", driver)
    assert run_batch(omp_threads, [(0,), (1,)], ["a", "b"], RAY) == [driver, driver]
