"""The server's analyses run in a worker process: igraph's kernels hold
Python's lock for seconds, and in a thread of the server they stall every
request (api.analysis_worker)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from api.analysis_worker import analyze_in_worker
from graph.analysis.snapshot import AnalysisParams, Stages, analyze_inputs, read_inputs
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine

# Exact betweenness on this graph keeps igraph busy, holding the lock, for seconds.
SLOW = AnalysisParams(betweenness_exact_limit=10**9)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    work = tmp_path_factory.mktemp("worker")
    events, truth = generate_campaign(users=5_000, seed=3)
    path = work / "events.csv"
    write_campaign(events, truth, path, "csv")
    with EmbeddedStore(work / "s.duckdb", memory_limit="512MB") as store:
        ingest_file(store, path, quarantine=Quarantine(work / "q.csv"))
        return read_inputs(store, SLOW)


def _longest_stall(work) -> tuple[float, object]:
    """Run work() in a thread; the longest this thread waited for Python's lock meanwhile."""
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(value=work()))
    thread.start()
    longest, last = 0.0, time.perf_counter()
    while thread.is_alive():
        time.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    thread.join()
    return longest, result.get("value")


def test_the_worker_leaves_the_server_free_and_computes_the_same(inputs):
    stages: list[str] = []
    stall, snapshot = _longest_stall(lambda: analyze_in_worker(inputs, SLOW, stages.append))
    assert stall < 0.5, f"the server waited {stall:.2f} s for Python's lock"
    assert {"fraud", "pagerank", "betweenness", "score", "learned"} <= set(stages)
    # The history up to the learned score's cutoff travelled with the tables.
    assert inputs.history is not None and snapshot.score_info["kind"] == "learned"
    here = analyze_inputs(inputs, SLOW)
    assert snapshot.users.drop_columns(["flag_rules"]).equals(
        here.users.drop_columns(["flag_rules"])
    )
    assert snapshot.modularity == here.modularity


def test_in_a_thread_the_same_analysis_stalls_the_server(inputs):
    """The reason for the worker: this fails the moment igraph lets go of the lock."""
    stall, _ = _longest_stall(lambda: analyze_inputs(inputs, SLOW, Stages(None)))
    assert stall > 0.5


def test_a_worker_killed_midway_is_an_error_not_a_hang(inputs):
    def kill_at_betweenness(stage: str) -> None:
        if stage == "betweenness":
            for child in __import__("multiprocessing").active_children():
                if child.name == "searchlight-analysis":
                    os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(RuntimeError, match=r"worker stopped before it finished \(exit code -9\)"):
        analyze_in_worker(inputs, SLOW, kill_at_betweenness)


def _view_graph(n: int = 1_500, ties: int = 4_000) -> tuple[int, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return n, rng.integers(0, n, ties), rng.integers(0, n, ties)


def test_views_are_laid_out_in_the_layout_process_with_the_same_picture():
    from api.analysis_worker import in_layout_worker, stop_layout_worker
    from api.layout import lay_out

    graph = _view_graph()
    try:
        stall, there = _longest_stall(lambda: in_layout_worker(lay_out, *graph))
        assert stall < 0.5, f"the server waited {stall:.2f} s for Python's lock"
        assert np.array_equal(there, lay_out(*graph))
        # A layout process that died is replaced on the next view.
        for child in __import__("multiprocessing").active_children():
            os.kill(child.pid, signal.SIGKILL)
        time.sleep(0.2)
        assert np.array_equal(in_layout_worker(lay_out, *graph), there)
    finally:
        stop_layout_worker()
