"""Import progress: a bar with rate and ETA on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable

from tqdm import tqdm


class Progress:
    """Counts processed records; `tty` picks the bar, otherwise `log` gets a line every `every_s`."""

    def __init__(
        self,
        desc: str,
        total: int | None,
        *,
        tty: bool,
        log: Callable[[str], None] | None = None,
        every_s: float = 5.0,
        initial: int = 0,
    ) -> None:
        self.desc = desc
        self.total = total
        self.done = initial
        self._log = log
        self._every_s = every_s
        self._started = time.monotonic()
        self._base = initial  # records done before this process started do not count toward the rate
        self._last_log = self._started
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit="rec", dynamic_ncols=True) if tty else None

    def advance(self, n: int) -> None:
        """Account for `n` more records."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if self._log is not None and now - self._last_log >= self._every_s:
            self._last_log = now
            self._log(self.line())

    def line(self) -> str:
        """The progress as one plain line: done/total, percent, rate, ETA."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = (self.done - self._base) / elapsed
        if self.total:
            left = max(self.total - self.done, 0)
            eta = f", ETA {left / rate:.0f}s" if rate > 0 else ""
            return f"{self.desc}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%), {rate:.0f}/s{eta}"
        return f"{self.desc}: {self.done}, {rate:.0f}/s"

    def close(self) -> None:
        """Finish the bar, or log the final line."""
        if self._bar is not None:
            self._bar.close()
        elif self._log is not None:
            self._log(self.line())
