"""Running a batch job's pieces of work in worker processes, with a progress bar, in completion order."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

import torch

Task = TypeVar("Task")
Outcome = TypeVar("Outcome")


def _init_worker(initializer: Callable[[], None] | None) -> None:
    torch.set_num_threads(1)  # one process per core already; more threads only contend
    if initializer is not None:
        initializer()


def run_pool(
    work: Callable[[Task], Outcome],
    tasks: Sequence[Task],
    workers: int,
    finish: Callable[[Task, Outcome], bool],
    initializer: Callable[[], None] | None = None,
) -> None:
    """Run `work(task)` for every task and hand each outcome to `finish(task, outcome)` in this process
    as it arrives; `finish` returning False stops the job (the tasks not started are dropped).

    With one worker or one task everything runs in this process (`initializer` is not called: this
    process is set up already); otherwise in `workers` processes (forked on Linux), each set up by
    `initializer` after one torch thread is set. `work` and the tasks must pickle where processes
    are spawned.
    """
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            if not finish(task, work(task)):
                return
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(initializer,)) as pool:
        pending: dict[Future, Task] = {pool.submit(work, task): task for task in tasks}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    if not finish(pending.pop(future), future.result()):
                        pending.clear()
                        break
        finally:
            pool.shutdown(cancel_futures=True)
