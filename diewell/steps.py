"""The step runner: how the pipeline runs each of its steps (a leaf: imports nothing of the project).

A step runner is called as `step(name, function, *args)` and returns the function's result.
`run_directly` is a plain call (the tests, the benchmarks); the refresh flow's TaskSteps runs
each step as a Prefect task. A runner may also `submit(name, function, *args)`, returning an
object whose `.result()` is the step's result, to run a step beside the caller (the
validation of windows ahead of their load)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


def run_directly(name: str, fn: Callable, *args):
    """Run one step as a plain call (the refresh flow runs each as a Prefect task instead)."""
    return fn(*args)


class _Deferred:
    """A step submitted to a runner that runs steps only as calls: it runs, through the
    runner, when its result is first asked for (so nothing runs ahead, nor is held ahead)."""

    def __init__(self, step: Callable, name: str, fn: Callable, args: tuple) -> None:
        self._call = (step, name, fn, args)
        self._ran = False
        self._value = None

    def result(self):
        if not self._ran:
            step, name, fn, args = self._call
            self._value, self._ran, self._call = step(name, fn, *args), True, None
        return self._value


def submit_step(step: Callable, name: str, fn: Callable, *args):
    """Start one step without waiting for it: an object whose `.result()` is the step's result.

    A step runner that can run a step beside the caller has `submit(name, fn, *args)`
    returning such an object (the refresh flow's TaskSteps: a Prefect task on the flow's task
    runner, a thread or a Dask worker); a plain runner (run_directly, the benchmarks' timer)
    runs the step when its result is asked for.
    """
    submit = getattr(step, "submit", None)
    if submit is None:
        return _Deferred(step, name, fn, args)
    return submit(name, fn, *args)
