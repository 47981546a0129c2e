from __future__ import annotations

import threading
import time

import pytest

from loaders.pipeline import read_ahead


def test_read_ahead_yields_everything_in_order():
    assert list(read_ahead(iter(range(10)), depth=2)) == list(range(10))


def test_a_producer_error_reaches_the_consumer():
    def failing():
        yield 1
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in read_ahead(failing()):
            got.append(item)
    assert got == [1]


def test_stopping_early_never_hangs_and_closes_the_producer():
    closed = threading.Event()

    def producer():
        try:
            yield from range(3)  # fills the queue, then offers the end marker
        finally:
            closed.set()

    batches = read_ahead(producer(), depth=2)
    assert next(batches) == 0
    time.sleep(0.3)  # the worker is now waiting for room in the queue
    stopper = threading.Thread(target=batches.close)
    stopper.start()
    stopper.join(timeout=5)
    assert not stopper.is_alive(), "closing the consumer hung"
    assert closed.wait(timeout=5)
