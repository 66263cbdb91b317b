"""Progress lines with counts, rates and ETA for long steps (ingest, training, HPO, evaluation)."""

from __future__ import annotations

import logging
import time


class Progress:
    """Log ``done/total unit`` with the rate (units/s) and the ETA at most every ``every`` seconds.

    ``total`` may be ``None`` when unknown (then no ETA is printed). Call :meth:`update` with the
    number of units just finished and :meth:`finish` once at the end (always logs a summary line).
    """

    def __init__(self, what: str, total: float | None, unit: str, logger: logging.Logger,
                 every: float = 10.0):
        self.what, self.total, self.unit, self.log, self.every = what, total, unit, logger, every
        self.done = 0.0
        self.start = self._last = time.perf_counter()

    def update(self, n: float = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self.log.info("%s: %s", self.what, self.status(now))

    def status(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.done:,.0f}"
        if self.total:
            text += f"/{self.total:,.0f} ({100 * self.done / self.total:.1f}%)"
        text += f" {self.unit}, {rate:,.0f} {self.unit}/s, elapsed {_duration(elapsed)}"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_duration((self.total - self.done) / rate)}"
        return text

    def finish(self) -> float:
        """Log the summary line and return the elapsed seconds."""
        elapsed = time.perf_counter() - self.start
        self.log.info("%s done: %s", self.what, self.status())
        return elapsed


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
