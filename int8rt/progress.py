"""Progress bars for long work: tqdm when installed (an optional extra), a plain counter on
stderr otherwise, nothing when disabled."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             enabled: bool = True) -> Iterator[T]:
    if not enabled:
        yield from items
        return
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        yield from tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)
        return
    interactive = sys.stderr.isatty()
    done = 0
    for done, item in enumerate(items, 1):
        if interactive:
            of = f"/{total}" if total else ""
            sys.stderr.write(f"\r{desc}: {done}{of}")
            sys.stderr.flush()
        yield item
    if interactive and done:
        sys.stderr.write("\r" + " " * (len(desc) + 24) + "\r")
