"""An import-linter contract for what the stock ones cannot say: an app talks to
another app only through that app's domain modules (services, selectors, models,
its public helpers), never through its transport (``api``, ``admin``) and never
through a private name (``from miniops.orders.x import _helper``).

Configured in ``pyproject.toml`` (``contract_types``) and run by ``make lint``. The
project's assembly modules (``miniops.api``, ``miniops.urls``...) mount every app's
router and are listed in ``exempt_importers``; tests are ignored.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _app(module: str, root: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == root else None


#: The directory that holds the root package (this file is root/testing/importlint.py).
_BASE = Path(__file__).resolve().parents[2]


def _source(module: str) -> Path | None:
    path = _BASE.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(module: str) -> list[tuple[int, str, str]]:
    """(line, module, name) of each ``from x import name`` in ``module``'s source
    (read, never imported: importing would need Django set up)."""
    source = _source(module)
    if source is None:
        return []
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.lineno, node.module, alias.name) for alias in node.names)
    return found


class AppBoundariesContract(Contract):
    type_name = "app_boundaries"

    root = fields.StringField()
    transport_segments = fields.SetField(subfield=fields.StringField())
    exempt_importers = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        root = str(self.root)
        # Contract fields hold the parsed option values once the contract is built.
        segments = {str(s) for s in self.transport_segments}  # type: ignore[attr-defined]
        exempt = {str(s) for s in self.exempt_importers or ()}  # type: ignore[union-attr]
        problems: list[str] = []
        for importer in sorted(graph.modules):
            mine = _app(importer, root)
            if importer in exempt or mine is None or ".tests" in importer:
                continue
            if mine == "testing":
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                theirs = _app(imported, root)
                if theirs is None or theirs == mine:
                    continue
                if segments & set(imported.split(".")[2:]):
                    lines = sorted(
                        detail["line_number"]
                        for detail in graph.get_import_details(importer=importer, imported=imported)
                    )
                    problems.append(
                        f"{importer} -> {imported} (l.{', '.join(map(str, lines))}): "
                        f"another app's {'/'.join(sorted(segments))} module"
                    )
            for line, module, name in _imported_names(importer):
                theirs = _app(module, root)
                if theirs is None or theirs == mine:
                    continue
                if name.startswith("_") and not name.startswith("__"):
                    problems.append(f"{importer} -> {module}.{name} (l.{line}): a private name")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for problem in check.metadata["problems"]:
            output.print_error(f"- {problem}", bold=False)
            output.new_line()
