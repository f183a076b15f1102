"""The package table of DESIGN.md, checked on every import of every module (their syntax
trees, imports inside functions included): who may import whom, that the scheduler neither
talks to Telegram nor renders, that the bot imports the scheduler only where it starts it,
and the project's one exception root."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("study", "messages", "scheduler", "bot", "sandbox", "migrations")
MAY_IMPORT = {
    "study": {"study"},
    "messages": {"messages", "study"},
    "scheduler": {"scheduler", "study", "messages"},
    "bot": set(PACKAGES),
    "sandbox": {"sandbox"},
    "migrations": {"migrations", "study"},
}
# Where bot/ may import the scheduler, and what: starting it, and the seams DESIGN names.
STARTS_THE_SCHEDULER = {
    "bot/runner.py": {"scheduler.dispatcher", "scheduler.service"},  # builds and starts it
    "bot/services.py": {"scheduler.planner"},  # the bootstrap: the replanner handlers use
    "bot/sender.py": {"scheduler.sender"},  # the scheduler's Sender protocol, on PTB
}
# What only messages/ does: the functions that turn templates and labels into text.
RENDERING = {"render", "render_bilingual", "label", "button", "plain", "question_text"}
TEXT_LIBRARIES = {"telegram", "jinja2", "babel", "markupsafe"}


@dataclass(frozen=True)
class Import:
    module: str  # the module imported from, absolute
    names: tuple[str, ...]  # the names taken from it (empty for `import module`)
    line: int


@dataclass(frozen=True)
class Module:
    path: str  # relative to the repository, e.g. "bot/alerts.py"
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.path.split("/")[0]

    def imports(self) -> Iterator[Import]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(alias.name, (), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                yield Import(self._absolute(node), tuple(a.name for a in node.names), node.lineno)

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.path.removesuffix(".py").split("/")[: -node.level]
        return ".".join([*parts, *([node.module] if node.module else [])])


def modules(*packages: str) -> list[Module]:
    found = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("migrations/versions/"):
                continue
            found.append(Module(relative, ast.parse(path.read_text(encoding="utf-8"))))
    return found


def top(module: str) -> str:
    return module.split(".")[0]


ALL = modules(*PACKAGES)


def test_the_modules_are_found() -> None:
    paths = {m.path for m in ALL}
    assert {"study/models.py", "messages/compose.py", "scheduler/dispatcher.py"} <= paths
    assert {"bot/runner.py", "sandbox/api.py", "migrations/__init__.py"} <= paths


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_the_design_allows(package: str) -> None:
    wrong = [
        f"{m.path}:{i.line} imports {i.module}"
        for m in ALL
        if m.package == package
        for i in m.imports()
        if top(i.module) in PACKAGES and top(i.module) not in MAY_IMPORT[package]
    ]
    assert wrong == []


def test_the_scheduler_neither_talks_to_telegram_nor_renders() -> None:
    wrong = []
    for m in modules("scheduler"):
        for i in m.imports():
            if top(i.module) in TEXT_LIBRARIES:
                wrong.append(f"{m.path}:{i.line} imports {i.module}")
            if top(i.module) == "messages" and RENDERING & set(i.names):
                wrong.append(f"{m.path}:{i.line} imports {sorted(RENDERING & set(i.names))}")
            if i.module == "messages.render" and not set(i.names) <= {"Button", "Keyboard"}:
                wrong.append(f"{m.path}:{i.line} imports from messages.render")
        for node in ast.walk(m.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in RENDERING
            ):
                wrong.append(f"{m.path}:{node.lineno} calls {node.func.id}()")
    assert wrong == []


def test_the_bot_imports_the_scheduler_only_to_start_it() -> None:
    wrong = [
        f"{m.path}:{i.line} imports {i.module}"
        for m in modules("bot")
        for i in m.imports()
        if top(i.module) == "scheduler" and i.module not in STARTS_THE_SCHEDULER.get(m.path, set())
    ]
    assert wrong == []


def test_messages_and_the_domain_know_nothing_of_telegram() -> None:
    wrong = [
        f"{m.path}:{i.line} imports {i.module}"
        for m in modules("study", "messages", "scheduler")
        for i in m.imports()
        if top(i.module) == "telegram"
    ]
    assert wrong == []


def test_the_domain_reads_the_wall_clock_only_in_its_clock() -> None:
    wrong = [
        f"{m.path}:{node.lineno}"
        for m in modules("study", "messages")
        if m.path != "study/clock.py"
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Attribute) and node.attr in {"now", "today", "utcnow"}
        if isinstance(node.value, ast.Name) and node.value.id in {"datetime", "date"}
    ]
    assert wrong == []


def test_every_exception_of_ours_descends_from_the_one_root() -> None:
    """Only TrialbotError derives from a built-in exception; the sandbox, a Telegram of its
    own, has its own root."""
    builtin = {name for name in dir(__builtins__) if name.endswith(("Error", "Exception"))}
    builtin |= {"Exception", "BaseException"}
    wrong = [
        f"{m.path}:{node.lineno} {node.name}"
        for m in modules("study", "messages", "scheduler", "bot", "migrations")
        for node in ast.walk(m.tree)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id in builtin for b in node.bases)
        and node.name != "TrialbotError"
    ]
    assert wrong == []


def test_a_package_entry_point_that_re_exports_declares_all() -> None:
    for path in sorted(ROOT.glob("*/__init__.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        re_exported = [  # names a package takes from its own modules, to offer them
            node
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and top(node.module or "") == path.parent.name
        ]
        declared = any(
            isinstance(node, ast.Assign)
            and any(getattr(t, "id", "") == "__all__" for t in node.targets)
            for node in tree.body
        )
        assert not re_exported or declared, path.relative_to(ROOT)
