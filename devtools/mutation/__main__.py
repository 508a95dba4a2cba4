"""``python -m devtools.mutation [module ...]``: mutation testing with mutmut, a table per module.

Targets and the fast tests that must notice a change in them are in ``targets.toml``. The run happens
in a scratch copy of the working tree (``.local/mutation``), so mutmut's ``mutants/`` tree and its
``setup.cfg`` never touch the repository. mutmut runs at most two test processes at once
(``--jobs``). Prints, per module: mutants, killed (a timeout counts as killed), survived (``no
tests`` too: nothing noticed them), the score, and every survivor with its diff. Exit status 1 when
a module scores below its ``minimum`` (default 0: report only).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
TARGETS = Path(__file__).with_name("targets.toml")
SCRATCH = ROOT / ".local" / "mutation"
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
_RESULT = re.compile(r"^\s*(?P<name>\S+): (?P<status>.+?)\s*$")


@dataclass
class Target:
    module: str
    tests: list[str]
    minimum: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    survivors: list[tuple[str, str]] = field(default_factory=list)  # (mutant, status)

    @property
    def dotted(self) -> str:
        return self.module.removesuffix(".py").replace("/", ".")

    @property
    def mutants(self) -> int:
        return sum(self.statuses.values()) - self.statuses["skipped"]

    @property
    def killed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status in KILLED)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.mutants if self.mutants else 0.0


def load_targets(only: list[str]) -> list[Target]:
    config = tomllib.loads(TARGETS.read_text())
    targets = [Target(t["module"], list(t["tests"]), float(t.get("minimum", 0))) for t in config["target"]]
    if only:
        targets = [t for t in targets if any(o in t.module for o in only)]
        if not targets:
            raise SystemExit(f"no target matches {only}")
    return targets


def scratch_copy() -> Path:
    """The working tree's tracked and new files (not ignored ones) copied to a clean scratch directory."""
    shutil.rmtree(SCRATCH, ignore_errors=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (SCRATCH / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, SCRATCH / name)
    return SCRATCH


def write_config(where: Path, targets: list[Target]) -> None:
    tests = sorted({test for t in targets for test in t.tests if (where / test).exists()})
    lines = ["[mutmut]", "source_paths=" + "\n    ".join(t.module for t in targets),
             "also_copy=gateway\n    devtools\n    tests\n    pyproject.toml",
             "pytest_add_cli_args=-p no:cacheprovider\n    -q\n    -p devtools.mutation.few_examples",
             "pytest_add_cli_args_test_selection=" + "\n    ".join(tests)]
    (where / "setup.cfg").write_text("\n".join(lines) + "\n")


def mutmut(where: Path, *args: str, quiet: bool = False, output: IO[str] | None = None) -> str:
    executable = Path(sys.executable).with_name("mutmut")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sink = subprocess.PIPE if quiet else output
    done = subprocess.run([str(executable), *args], cwd=where, env=env, text=True,
                          stdout=sink, stderr=subprocess.STDOUT if sink is not None else None)
    if done.returncode not in (0, 1) and args[0] != "run":
        raise SystemExit(f"mutmut {' '.join(args)} failed ({done.returncode})")
    return done.stdout or ""


def collect(where: Path, targets: list[Target]) -> None:
    for line in mutmut(where, "results", "--all", "true", quiet=True).splitlines():
        match = _RESULT.match(line)
        if match is None:
            continue
        name, status = match["name"], match["status"]
        for target in targets:
            if name.startswith(target.dotted + "."):
                target.statuses[status] += 1
                if status not in KILLED and status != "skipped":
                    target.survivors.append((name, status))


def diff_of(where: Path, name: str) -> str:
    shown = mutmut(where, "show", name, quiet=True).splitlines()
    changed = [line for line in shown if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))]
    return "\n".join("      " + line.strip() for line in changed)


def report(where: Path, targets: list[Target], jobs: int) -> None:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        diffs = dict(zip((n for t in targets for n, _ in t.survivors),
                         pool.map(lambda name: diff_of(where, name), (n for t in targets for n, _ in t.survivors)),
                         strict=True))
    for target in targets:
        if target.survivors:
            print(f"\nSurvivors in {target.module}:")
            for name, status in target.survivors:
                print(f"  {name} ({status})")
                print(diffs[name])
    width = max(len(t.module) for t in targets)
    print(f"\n{'module':<{width}}  mutants  killed  survived  score")
    for t in targets:
        print(f"{t.module:<{width}}  {t.mutants:>7}  {t.killed:>6}  {t.mutants - t.killed:>8}  {t.score:5.1f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="only targets whose path contains one of these")
    parser.add_argument("--jobs", type=int, default=2, help="test processes at once (default 2)")
    args = parser.parse_args(argv)
    targets = load_targets(args.modules)
    where = scratch_copy()
    write_config(where, targets)
    print(f"mutmut: {len(targets)} module(s), progress in {where / 'run.log'}", flush=True)
    with open(where / "run.log", "w") as log:
        mutmut(where, "run", "--max-children", str(max(1, min(args.jobs, 2))), output=log)
    collect(where, targets)
    report(where, targets, max(1, min(args.jobs, 2)))
    return 1 if any(t.score < t.minimum for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
