"""Run benchmarks: ``python bench/run.py [name ...]`` (all when none is named).

Each ``bench/bench_<name>.py`` defines ``run() -> dict`` and a docstring saying
what it measures against which baseline. Results print as Markdown and are saved
under bench/results/ (not committed); the figures we keep go in bench/README.md
with the command that produced them.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(names: list[str]) -> int:
    here = Path(__file__).resolve().parent
    available = sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    for name in chosen:
        module = importlib.import_module(f"bench_{name}")
        print(f"\n## {name}\n\n{(module.__doc__ or '').strip()}\n")
        module.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
