"""How long the command takes to start, as whole processes, against the bare interpreter.

    python benchmarks/startup.py                 # at least 10 runs of each
    python benchmarks/startup.py --repeat 20

The baseline is the bare interpreter importing nothing, `python -S -c pass` (no `site`, so no
site-packages and none of their `.pth` files), measured in the same run, alternating with the
measures, each its own process (`timed`), in an empty working directory with no `BATCHPORT_`
variable:

- `python -c pass`: the interpreter with its site packages, as every command starts;
- `batchport types` (issue 16's target: at most 0.25 s, absolute) and `batchport --help`;
- `batchport import departments examples/departments.csv` (10 rows) into a fresh SQLite file
  and into a fresh PostgreSQL database, each copied from a migrated template (the first use of
  an empty SQLite file also migrates it: measured apart);
- the import of 10,000 departments the same ways, which tells the fixed cost of an import from
  its cost per row: fixed = t(10) - 10 * (t(10,000) - t(10)) / 9,990.

The table's ratio is the baseline's time over the measure's: the share of a command's time
the bare interpreter takes. Then the medians in seconds, what each adds to the bare
interpreter, and the fixed cost of the tiny imports. The machine is shared and noisy: figures
of one run compare; absolute times drift with the load (printed). So the commands that wait
for nothing (no database) are also measured in CPU seconds (user + system, alternating, the
same number of runs): what their wall time is on an idle machine, nearly whatever the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from common import (
    BATCHPORT,
    HERE,
    Measure,
    Run,
    Sqlite,
    alternate,
    arguments,
    on_postgres,
    report,
    timed,
    write_departments_csv,
)

if TYPE_CHECKING:
    from common import Postgres, Results

#: The tiny file of the README's first command.
TINY = HERE.parent / "examples" / "departments.csv"
TINY_ROWS = 10
#: The file that tells the cost per row.
LARGER_ROWS = 10_000
#: The target of issue 16 for `batchport types`, in seconds.
TARGET = 0.25
#: Fewest runs of each: starting takes a fraction of a second, and the machine is noisy.
LEAST_RUNS = 10


def suite(args: argparse.Namespace, pg: Postgres) -> Results:
    """The commands' start against the bare interpreter (see the module docstring)."""
    larger = write_departments_csv(LARGER_ROWS)
    repeat = max(args.repeat, LEAST_RUNS)
    with _bare_directory() as folder:
        sqlite = Sqlite(folder)
        bare = Measure("python -S -c pass: bare interpreter (baseline)", 1)
        measures: list[tuple[Measure, Callable[[], Run]]] = [
            (bare, lambda: timed([sys.executable, "-S", "-c", "pass"])),
            (Measure("python -c pass (site packages)", 1), _python("-c", "pass")),
            (Measure("batchport types", 1), _batchport("types")),
            (Measure("batchport --help", 1), _batchport("--help")),
        ]
        for rows, path in ((TINY_ROWS, TINY), (LARGER_ROWS, larger)):
            measures += [
                (
                    Measure(f"import {rows:,} departments, SQLite", rows),
                    lambda path=path: _import(sqlite.url(sqlite.fresh()), path),
                ),
                (
                    Measure(f"import {rows:,} departments, PostgreSQL", rows),
                    lambda path=path: _import(pg.url(pg.fresh()), path),
                ),
            ]
        measures.append(
            (
                Measure(f"import {TINY_ROWS} departments, new SQLite file", TINY_ROWS),
                lambda: _import(f"sqlite:///{folder / f'new-{os.urandom(6).hex()}.db'}", TINY),
            )
        )
        alternate(repeat, measures)
        _print_absolute(bare, [measure for measure, _ in measures[1:]])
        _print_cpu(repeat)
    return [(measure, bare) for measure, _ in measures[1:]]


def _python(*args: str) -> Callable[[], Run]:
    return lambda: timed([sys.executable, *args])


def _batchport(*args: str) -> Callable[[], Run]:
    return lambda: timed([BATCHPORT, *args])


def _import(url: str, path: Path) -> Run:
    return timed([BATCHPORT, "--database-url", url, "import", "departments", str(path)])


@contextmanager
def _bare_directory() -> Iterator[Path]:
    """An empty working directory (no `batchport.toml`, no `batchport.db`) and no `BATCHPORT_`
    variable, as on a fresh machine; both restored afterwards."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("BATCHPORT_")}
    before = Path.cwd()
    folder = Path(tempfile.mkdtemp(prefix="batchport-startup-"))
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.update(saved)


def _print_absolute(bare: Measure, measures: list[Measure]) -> None:
    """Medians in seconds, what each adds to the bare interpreter, the target, and the fixed
    cost of the tiny imports."""
    print(f"\nStart-up, medians of {len(bare.runs)} runs (load: {_load()})")
    print(f"{'measure':<52} {'median s':>9} {'+ bare s':>9}")
    print(f"{bare.name:<52} {bare.median:>9.3f}")
    for measure in measures:
        print(f"{measure.name:<52} {measure.median:>9.3f} {measure.median - bare.median:>9.3f}")
    named = {measure.name: measure for measure in measures}
    types = named["batchport types"].median
    verdict = "met" if types <= TARGET else "NOT met"
    print(f"batchport types: {types:.3f} s; the target, at most {TARGET} s: {verdict}")
    for database in ("SQLite", "PostgreSQL"):
        tiny = named[f"import {TINY_ROWS:,} departments, {database}"]
        larger = named[f"import {LARGER_ROWS:,} departments, {database}"]
        per_row = (larger.median - tiny.median) / (LARGER_ROWS - TINY_ROWS)
        fixed = tiny.median - TINY_ROWS * per_row
        print(
            f"import on {database}: fixed cost {fixed:.3f} s of the tiny import's "
            f"{tiny.median:.3f} s ({fixed / tiny.median:.0%}); {per_row * 1e6:.0f} µs per row"
        )


#: The commands that wait for nothing, measured in CPU seconds too.
CPU_BOUND = {
    "python -S -c pass": [sys.executable, "-S", "-c", "pass"],
    "python -c pass": [sys.executable, "-c", "pass"],
    "batchport types": [BATCHPORT, "types"],
    "batchport --help": [BATCHPORT, "--help"],
}


def _print_cpu(repeat: int) -> None:
    """The median CPU seconds (user + system) of each command that waits for nothing."""
    spent: dict[str, list[float]] = {name: [] for name in CPU_BOUND}
    for _ in range(repeat):
        for name, args in CPU_BOUND.items():
            spent[name].append(_cpu_seconds(args))
    print(f"\nCPU seconds (user + system), medians of {repeat} runs (load: {_load()})")
    for name, seconds in spent.items():
        print(f"{name:<52} {statistics.median(seconds):>9.3f}")


def _cpu_seconds(args: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    report("Start-up — whole processes", on_postgres(arguments(__doc__), suite))
