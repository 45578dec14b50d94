"""Progress bars for long work (calibration, benchmarks): tqdm when installed (an optional
extra), a plain counter on an interactive stderr otherwise, nothing when disabled."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class ProgressBar:
    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it",
                 enabled: bool = True) -> None:
        self._bar = None
        self._plain = False
        self.total, self.desc, self.unit, self.done = total, desc, unit, 0
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self._plain = sys.stderr.isatty()
            return
        # no known total (a generator): a plain count "calibrating: 12 samples [00:01, ...]"
        # instead of tqdm's "12sample" (and "0sample" before the first item)
        fmt = None if total else "{desc}: {n_fmt} " + unit + "s [{elapsed}, {rate_fmt}]"
        self._bar = tqdm(total=total or None, desc=desc, unit=unit, dynamic_ncols=True,
                         file=sys.stderr, bar_format=fmt)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._plain:
            of = f"/{self.total}" if self.total else ""
            sys.stderr.write(f"\r{self.desc}: {self.done}{of} {self.unit}s")
            sys.stderr.flush()

    def extend(self, n: int) -> None:
        """Raise the total by `n` (work whose size is known only as it is reached, e.g. the
        ops of each new batch's program)."""
        self.total = (self.total or 0) + n
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._plain and self.done:
            sys.stderr.write("\r\033[K")


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             enabled: bool = True) -> Iterator[T]:
    bar = ProgressBar(total, desc, enabled=enabled)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
