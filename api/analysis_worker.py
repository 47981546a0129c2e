"""Analyses and view layouts in worker processes, so the server keeps answering.

igraph's kernels (Leiden, betweenness, k-core) hold Python's GIL for
seconds at a time: run in a thread of the server they stall every request,
`/health` included (up to 10 s at 1M users, bench/nonblocking.py). So the
server reads the analysis inputs itself (the embedded store is the
server's alone), hands them to a fresh process, and gets the snapshot back;
each stage is reported as it starts. The tables travel as Arrow files in a
temporary folder both ways (writing and mapping them lets go of the lock;
pickling a million rows through the pipe held it for most of a second).
The gds engine computes inside Neo4j and stays in the server.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import pickle
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.feather as feather

from graph.analysis.snapshot import (
    AnalysisInputs,
    AnalysisParams,
    EmptyWindowError,
    Snapshot,
    Stages,
    analyze_inputs,
)
from graph.store import GraphTables
from loaders.errors import SearchlightError

T = TypeVar("T")
# How long a worker that has sent its answer may take to exit.
EXIT_SECONDS = 10.0


class AnalysisFailedError(SearchlightError):
    """The worker refused the analysis with a message for the user."""


def analyze_in_worker(
    inputs: AnalysisInputs, params: AnalysisParams, progress: Callable[[str], None]
) -> Snapshot:
    """`analyze_inputs` in a spawned process; its errors come back as the
    same kinds (EmptyWindowError, a SearchlightError with its message, or a
    RuntimeError for a bug), and a worker that dies is an error too."""
    context = mp.get_context("spawn")  # no fork of a threaded server
    with tempfile.TemporaryDirectory(prefix="searchlight-analysis-") as work:
        folder = Path(work)
        tables, history = inputs.tables, inputs.history
        sent = _put(
            folder,
            {
                **_tables_of(tables),
                "reviews": inputs.reviews,
                **({f"{HISTORY}{k}": v for k, v in _tables_of(history).items()} if history else {}),
            },
        )
        meta = (tables.watermark, tables.last_event_at)
        if history is not None:
            meta += (history.watermark, history.last_event_at)
        answers, sender = context.Pipe(duplex=False)
        worker = context.Process(
            target=_work,
            args=(sender, folder, sent, meta, params),
            name="searchlight-analysis",
            daemon=True,
        )
        worker.start()
        sender.close()
        try:
            return _answer(answers, worker, folder, params, progress)
        finally:
            answers.close()
            worker.join(EXIT_SECONDS)
            if worker.is_alive():
                worker.kill()


def _answer(
    answers: Connection,
    worker: mp.process.BaseProcess,
    folder: Path,
    params: AnalysisParams,
    progress: Callable[[str], None],
) -> Snapshot:
    while True:
        try:
            kind, value = answers.recv()
        except EOFError:
            worker.join(EXIT_SECONDS)
            raise RuntimeError(
                f"the analysis worker stopped before it finished (exit code {worker.exitcode})"
            ) from None
        if kind == "stage":
            progress(value)
        elif kind == "done":
            # Read whole, not mapped: the folder goes when this returns.
            tables = {name: feather.read_table(folder / f"{name}.arrow") for name in value[1]}
            return dataclasses.replace(value[0], **tables)
        elif kind == "refused":
            raise EmptyWindowError(params.window)
        elif kind == "failed":
            message, params = value
            raise AnalysisFailedError(message, **params)
        else:
            raise RuntimeError(value)


_SNAPSHOT_TABLES = ("users", "communities", "flags")
# The learned score's window up to its cutoff travels as tables with this prefix.
HISTORY = "history_"


def _tables_of(tables: GraphTables) -> dict[str, pa.Table]:
    return {
        f.name: getattr(tables, f.name)
        for f in dataclasses.fields(tables)
        if isinstance(getattr(tables, f.name), pa.Table)
    }


def _put(folder: Path, tables: dict[str, pa.Table]) -> list[str]:
    for name, table in tables.items():
        feather.write_feather(table, folder / f"{name}.arrow", compression="uncompressed")
    return list(tables)


def _work(
    answers: Connection,
    folder: Path,
    names: list[str],
    meta: tuple,
    params: AnalysisParams,
) -> None:
    try:
        read = {
            name: feather.read_table(folder / f"{name}.arrow", memory_map=True) for name in names
        }
        reviews = read.pop("reviews")
        past = {k.removeprefix(HISTORY): read.pop(k) for k in list(read) if k.startswith(HISTORY)}
        history = GraphTables(**past, watermark=meta[2], last_event_at=meta[3]) if past else None
        inputs = AnalysisInputs(
            GraphTables(**read, watermark=meta[0], last_event_at=meta[1]), reviews, history
        )
        timer = Stages(lambda stage: answers.send(("stage", stage)))
        snapshot = analyze_inputs(inputs, params, timer)
        written = _put(folder, {name: getattr(snapshot, name) for name in _SNAPSHOT_TABLES})
        empty = {name: None for name in _SNAPSHOT_TABLES}
        answers.send(("done", (dataclasses.replace(snapshot, **empty), written)))
    except EmptyWindowError:
        answers.send(("refused", None))
    except SearchlightError as exc:
        answers.send(("failed", _portable(exc)))
    except BaseException as exc:  # a bug: the server reports it in the job
        answers.send(("bug", f"{type(exc).__name__}: {exc}"))
    finally:
        answers.close()


def _portable(error: SearchlightError) -> tuple[str, dict[str, object]]:
    """An error's message and params as they can travel to the server (so
    it is shown in each reader's language), or its English text alone when
    its params cannot be pickled back."""
    try:
        pickle.loads(pickle.dumps(error.params))
    except Exception:
        return str(error), {}
    return error.message, error.params


# The server's one layout process (api.explorer), started on first use and
# kept: a view's layout is a small task, and a process per view would cost
# its start-up each time.
_layouts: ProcessPoolExecutor | None = None
_layouts_lock = threading.Lock()


def in_layout_worker(work: Callable[..., T], *args: object) -> T:
    """work(*args) in the layout process; a process that died is replaced."""
    global _layouts
    for attempt in (1, 2):
        with _layouts_lock:
            if _layouts is None:
                _layouts = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
            pool = _layouts
        try:
            return pool.submit(work, *args).result()
        except BrokenProcessPool:
            with _layouts_lock:
                if _layouts is pool:
                    _layouts = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def stop_layout_worker() -> None:
    global _layouts
    with _layouts_lock:
        pool, _layouts = _layouts, None
    if pool is not None:
        pool.shutdown(cancel_futures=True)
