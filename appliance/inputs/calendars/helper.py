"""One piece of an expansion in a forked helper process, beside the calendar worker.

A 5,000-event feed spends most of its second in ``icalendar`` and
``recurring-ical-events`` (pure Python, one core). The calendar worker is a process of
its own with one thread (see :mod:`~appliance.inputs.calendars.worker`), so it may fork:
a helper expands part of the series on another core while the worker does the rest,
and sends its result back pickled through a pipe. Nothing here is used in a process with
other threads (forking one is unsafe): :func:`~appliance.inputs.calendars.expand.
expand_feed` forks only when its caller says it may.
"""

from __future__ import annotations

import os
import pickle

from appliance.errors import FeedError


class ForkedCall:
    """Call ``function(*args)`` in a forked child at once; :meth:`result` waits for it.

    The child inherits the worker's lowered priority. :meth:`result` must be called
    (or :meth:`cancel`), or the child is left a zombie.
    """

    def __init__(self, function, *args):
        read, write = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: compute, send, and leave without cleanups
            status = 1
            try:
                os.close(read)
                try:
                    outcome = ("value", function(*args))
                except Exception as exc:  # FeedError and the like: raised in the parent
                    outcome = ("error", exc)
                with os.fdopen(write, "wb") as pipe:
                    pickle.dump(outcome, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        self._pipe = os.fdopen(read, "rb")

    def result(self):
        """The child's return value; its exception is raised here."""
        try:
            data = self._pipe.read()
        finally:
            self._pipe.close()
            os.waitpid(self._pid, 0)
        try:
            kind, value = pickle.loads(data)
        except Exception:
            raise FeedError(
                "the calendar reader's helper stopped before it answered (out of memory?); "
                "it is tried again at the next refresh"
            ) from None
        if kind == "error":
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child and reap it (the parent failed first)."""
        try:
            os.kill(self._pid, 9)
        except ProcessLookupError:
            pass
        self._pipe.close()
        os.waitpid(self._pid, 0)
