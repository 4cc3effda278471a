"""Every code block and every link in README.md and docs/*.md is checked against the product.

The rules (README.md, "Docs", says the same):

* Every fenced block has a language. ``text`` is for output, trees and diagrams and is not
  checked; every other block is checked as below, unless the line just before its fence is a
  marker ``<!-- doc-test: skip: REASON -->`` (a non-empty reason is required).
* ``toml``: a pywats-node configuration, loaded by the real loader (``parse_config``: schema
  and every semantic check). A block with ``schema_version`` is a whole file; a block without it
  is a fragment, appended to a minimal valid file (``schema_version`` and ``[node]``). Absolute
  paths in it are re-rooted in a temporary folder, where a ``token_file`` it names is created
  (0600), so the checks about files pass on any machine. Each ``[[watch]]`` folder's and
  ``[[schedule]]``'s ``converter_args`` are validated by its converter when that converter is
  built in. A TOML block
  that is not a node configuration (a ``pyproject.toml``) is marked
  ``<!-- doc-test: toml-only: REASON -->`` and is only parsed.
* ``sh``, ``bash``, ``console`` (only ``$ `` lines are commands there): each command (split at
  ``&&``, ``||``, ``;`` and ``|``) must be one of
  - ``pywats-node ...`` (any path ending in ``pywats-node``): parsed by the real argument parser,
    so an unknown option or a bad value fails. Placeholders in capitals (``REPORT_ID``,
    ``FILE``, ``REPORT_ID...``) are filled in. Read-only commands (``--version``, ``--help``,
    ``config init``, ``config validate``, ``queue ls``) are run, in a sandbox with its own
    ``HOME`` and XDG folders, a default configuration (written by ``config init`` unless the
    block does that itself) and an empty spool, and must exit 0; ``emulator`` is run on a free
    port until it prints its URL.
  - ``python -m MODULE ...``: the module must be importable; when its ``--help`` is an argparse
    usage, every ``--option`` the command uses must appear in it, else the command must have
    no options.
  Any other program (``curl``, ``sqlite3``, ``pip``, an editor) is allowed only in a block
  marked ``<!-- doc-test: partial: REASON -->``; its ``pywats-node`` and ``python -m``
  commands are still checked.
* ``python``: compiled (top-level ``await`` allowed) and every ``import`` / ``from ... import``
  resolved against the installed packages. Several blocks are also run by the test next to
  their package (tests/*/test_docs.py).
* ``sql``: every statement runs, read-only, on a fresh spool.
* Any other language needs the ``skip`` marker.

Inline: every ``--option`` in a `pywats-node ...` code span of the text (the command tables) is
an option of that subcommand.

Links: every relative Markdown link resolves to a file, and a ``#fragment`` to a heading in it;
every ``docs/NAME.md`` named in the docs or the code exists.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pywats_actors._cli"]
NAMESPACE = "6f1c3a52-0b7e-4c21-9d3e-5a8f2b1c4d70"
SAMPLE_ID = "7b234dbc-3d06-4738-b176-c6d995dacb66"
_MARKER = re.compile(r"^<!--\s*doc-test:\s*(?P<kind>[a-z-]+)\s*:\s*(?P<reason>.*?)\s*-->$")
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_SHELLS = {"sh", "bash", "console"}
_RUN = {("config", "init"), ("config", "validate"), ("queue", "ls")}


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    lang: str
    text: str
    marker: str | None
    reason: str

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, with the marker on the line before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        indent = len(fence["indent"])
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = _MARKER.match(previous.strip())
        found.append(
            Block(
                file=path,
                line=index + 1,
                lang=fence["lang"],
                text=body,
                marker=marker["kind"] if marker else None,
                reason=marker["reason"] if marker else "",
            )
        )
        index = end + 1
    return found


ALL_BLOCKS = [block for path in doc_files() for block in blocks_of(path)]


# --- configuration -------------------------------------------------------------------------


def _reroot(text: str, root: Path) -> str:
    """Put every absolute path of a TOML text under *root* (``"/srv/x"`` -> ``"<root>/srv/x"``)."""
    return re.sub(r'"(/[^"]*)"', lambda m: f'"{root}{m[1]}"', text)


def check_config_block(block: Block, sandbox: Path) -> None:
    from pywats_actors.config import ConfigInvalid, parse_config

    text = block.text
    if not re.search(r"^schema_version\s*=", text, re.MULTILINE):
        text = f'schema_version = 2\n\n[node]\nstation_namespace = "{NAMESPACE}"\n\n{text}'
    text = _reroot(text, sandbox)
    values = tomllib.loads(text)
    token_file = values.get("server", {}).get("token_file")
    if token_file:
        Path(token_file).parent.mkdir(parents=True, exist_ok=True)
        Path(token_file).write_text("doc-test-token\n")
        os.chmod(token_file, 0o600)
    try:
        loaded = parse_config(text, path=sandbox / "node.toml", env=_env(sandbox))
    except ConfigInvalid as exc:
        problems = "\n".join(f"  {p}" for p in exc.problems)
        pytest.fail(f"{block.where}: the configuration is refused:\n{problems}")
    from converters import BUILTIN_CONVERTERS, load_converter, validate_arguments

    for watch in loaded.config.watch:
        if watch.converter in BUILTIN_CONVERTERS:
            schema = load_converter(watch.converter).Arguments
            validate_arguments(watch.converter, schema, watch.converter_args)
    for schedule in loaded.config.schedule:
        if schedule.converter in BUILTIN_CONVERTERS:
            schema = load_converter(schedule.converter).Arguments
            validate_arguments(schedule.converter, schema, schedule.converter_args)


# --- shell ---------------------------------------------------------------------------------


def shell_commands(block: Block) -> list[list[str]]:
    """The commands of a shell block, each as its words."""
    lines = block.text.splitlines()
    if block.lang == "console":
        kept: list[str] = []
        continuing = False
        for line in lines:
            if line.startswith("$ ") or continuing:
                kept.append(line[2:] if line.startswith("$ ") else line)
                continuing = line.rstrip().endswith("\\")
        lines = kept
    script = "\n".join(lines).replace("\\\n", " ")
    commands: list[list[str]] = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in lexer:
            if token in {"&&", "||", ";", "|", "&"}:
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
        if current:
            commands.append(current)
    return commands


def _env(sandbox: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "home/.config"),
        ("XDG_STATE_HOME", "home/.local/state"),
        ("XDG_RUNTIME_DIR", "run"),
    ):
        env[var] = str(sandbox / sub)
        (sandbox / sub).mkdir(parents=True, exist_ok=True)
    return env


def _fill_placeholders(words: list[str], sandbox: Path) -> list[str]:
    filled = []
    for word in words:
        if re.fullmatch(r"[A-Z][A-Z_]*(\.\.\.)?", word):
            filled.append(SAMPLE_ID if word.startswith("REPORT_ID") else str(sandbox / word))
        else:
            filled.append(word)
    return filled


def check_pywats_node(words: list[str], block: Block, sandbox: Path, env: dict[str, str]) -> None:
    from pywats_actors._cli import _parser

    args = [w.replace("~", env["HOME"], 1) if w.startswith("~") else w for w in words[1:]]
    args = _fill_placeholders(args, sandbox)
    command = " ".join(words)
    try:
        parsed = _parser().parse_args(args)
    except SystemExit as exc:
        if exc.code != 0 or not {"--help", "-h", "--version"} & set(args):
            pytest.fail(f"{block.where}: `{command}` is refused by the argument parser")
        _run_cli(args, env, sandbox, block, command)
        return
    if parsed.command == "emulator":
        _run_emulator(args, env, sandbox, block, command)
    elif (parsed.command, getattr(parsed, "action", None)) in _RUN:
        _run_cli(args, env, sandbox, block, command)


def _run_cli(args: list[str], env: dict[str, str], cwd: Path, block: Block, command: str) -> None:
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{block.where}: `{command}` exited {done.returncode}:\n{done.stderr}")


def _run_emulator(
    args: list[str], env: dict[str, str], cwd: Path, block: Block, command: str
) -> None:
    """Run the emulator on a free port (the doc's port may be taken here) until its URL."""
    if "--port" in args:
        args[args.index("--port") + 1] = "0"
    if "--store" in args:
        args[args.index("--store") + 1] = str(cwd / "emulator.db")
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        if not first.startswith("http://127.0.0.1:"):
            pytest.fail(f"{block.where}: `{command}` printed {first!r}, not its URL")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def check_python_module(words: list[str], block: Block, env: dict[str, str]) -> None:
    module = words[2]
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{block.where}: there is no module {module}")
    options = [w.split("=", 1)[0] for w in words[3:] if w.startswith("--")]
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    usage = done.stdout.startswith("usage:")
    if module == "timeit":  # the standard library's: its help is its docstring
        usage, options = True, []
    if not usage and options:
        pytest.fail(f"{block.where}: {module} takes no options, but the doc gives {options}")
    for option in options:
        if not re.search(rf"{re.escape(option)}\b", done.stdout):
            pytest.fail(f"{block.where}: {module} has no option {option}")


def is_pywats_node(words: list[str]) -> bool:
    return Path(words[0]).name == "pywats-node"


def is_python_module(words: list[str]) -> bool:
    python = re.fullmatch(r"python(3(\.\d+)?)?", Path(words[0]).name) is not None
    return python and len(words) > 2 and words[1] == "-m" and words[2] not in {"venv", "pip"}


def prepare_sandbox(block: Block, sandbox: Path, env: dict[str, str]) -> None:
    """A default configuration (unless the block writes one) and an empty spool."""
    from pywats_actors.spool import open_spool

    writes_config = any(
        is_pywats_node(w) and w[1:3] == ["config", "init"] for w in shell_commands(block)
    )
    if not writes_config:
        done = subprocess.run(
            [*CLI, "config", "init"], capture_output=True, env=env, timeout=60, check=True
        )
        assert done.returncode == 0
    spool = Path(env["XDG_STATE_HOME"]) / "pywats-node" / "default" / "spool.sqlite3"
    spool.parent.mkdir(parents=True, exist_ok=True)

    async def create() -> None:
        async with open_spool(spool):
            pass

    trio.run(create)


def check_shell_block(block: Block, sandbox: Path) -> None:
    env = _env(sandbox)
    commands = shell_commands(block)
    assert commands, f"{block.where}: an empty shell block"
    others = [c for c in commands if not (is_pywats_node(c) or is_python_module(c))]
    if others and block.marker != "partial":
        listed = "; ".join(" ".join(c) for c in others)
        pytest.fail(
            f"{block.where}: `{listed}` cannot be checked here; mark the block "
            "<!-- doc-test: partial: REASON --> (or skip) if that is right"
        )
    if any(is_pywats_node(c) for c in commands):
        prepare_sandbox(block, sandbox, env)
    for words in commands:
        if is_pywats_node(words):
            check_pywats_node(words, block, sandbox, env)
        elif is_python_module(words):
            check_python_module(words, block, env)


# --- python and sql ------------------------------------------------------------------------


def check_python_block(block: Block) -> None:
    source = block.text
    tree = compile(
        source, block.where, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    compile(source, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in _doc_modules(block):
                continue  # a module the guide itself writes (acme_converter.py)
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), (
                    f"{block.where}: {node.module} has no {alias.name}"
                )


def _doc_modules(block: Block) -> set[str]:
    """Modules that a guide's own blocks define (a block starting ``# name.py``)."""
    names = set()
    for other in ALL_BLOCKS:
        if other.file == block.file and other.lang == "python":
            first = other.text.splitlines()[0] if other.text.strip() else ""
            match = re.fullmatch(r"#\s*(\w+)\.py", first.strip())
            if match:
                names.add(match[1])
    return names


def check_sql_block(block: Block, sandbox: Path) -> None:
    from pywats_actors.spool import open_spool

    path = sandbox / "spool.sqlite3"

    async def create() -> None:
        async with open_spool(path):
            pass

    trio.run(create)
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for statement in sqlite3_statements(block.text):
            connection.execute(statement).fetchall()
    finally:
        connection.close()


def sqlite3_statements(text: str) -> list[str]:
    statements, current = [], ""
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    assert not current.strip(), f"an unfinished statement: {current!r}"
    return statements


# --- the tests -----------------------------------------------------------------------------


class TestCodeBlocks:
    @pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: f"{b.where}[{b.lang}]")
    def test_block_is_checked_or_marked(self, block: Block, tmp_path: Path) -> None:
        """Each block is checked by the rule for its language, or marked with a reason."""
        assert block.lang, (
            f"{block.where}: a block without a language; use text for output and diagrams"
        )
        if block.marker is not None:
            assert block.reason, f"{block.where}: the marker needs a reason"
            assert block.marker in {"skip", "partial", "toml-only"}, block.marker
        if block.marker == "skip" or block.lang == "text":
            return
        if block.lang == "toml":
            if block.marker == "toml-only":
                tomllib.loads(block.text)
            else:
                check_config_block(block, tmp_path)
        elif block.lang in _SHELLS:
            check_shell_block(block, tmp_path)
        elif block.lang == "python":
            check_python_block(block)
        elif block.lang == "sql":
            check_sql_block(block, tmp_path)
        else:
            pytest.fail(f"{block.where}: no checker for {block.lang!r}; mark it skip")

    def test_the_harness_finds_the_known_blocks(self) -> None:
        """The extraction sees blocks in every doc, indented ones included."""
        where = {(b.file.name, b.lang) for b in ALL_BLOCKS}
        assert ("README.md", "python") in where
        assert ("configuration.md", "toml") in where
        indented = [b for b in ALL_BLOCKS if "salvage" in b.text and b.lang == "sh"]
        assert indented, "the indented salvage block in spool.md was not found"


class TestHarnessRules:
    def test_unknown_option_fails(self, tmp_path: Path) -> None:
        """A documented pywats-node command with an option that does not exist fails."""
        block = Block(ROOT / "README.md", 1, "sh", "pywats-node queue ls --colour\n", None, "")
        with pytest.raises(pytest.fail.Exception, match="refused by the argument parser"):
            check_shell_block(block, tmp_path)

    def test_unmarked_other_program_fails(self, tmp_path: Path) -> None:
        """A command of another program needs the partial marker."""
        block = Block(ROOT / "README.md", 1, "sh", "curl http://x\n", None, "")
        with pytest.raises(pytest.fail.Exception, match="partial"):
            check_shell_block(block, tmp_path)

    def test_refused_config_fails(self, tmp_path: Path) -> None:
        """A configuration fragment the loader refuses fails, with the loader's problem."""
        block = Block(ROOT / "README.md", 1, "toml", "[upload]\nconcurrency = 0\n", None, "")
        with pytest.raises(pytest.fail.Exception, match=r"\$\.upload\.concurrency"):
            check_config_block(block, tmp_path)

    def test_unknown_module_option_fails(self, tmp_path: Path) -> None:
        """A `python -m` command with an option its module does not have fails."""
        text = "python -m pywats_actors.bench --nonsense 3\n"
        block = Block(ROOT / "README.md", 1, "sh", text, None, "")
        with pytest.raises(pytest.fail.Exception, match="no option --nonsense"):
            check_shell_block(block, tmp_path)

    def test_run_commands_must_succeed(self, tmp_path: Path) -> None:
        """A read-only command that is run must exit 0 (here: a file that does not exist)."""
        text = "pywats-node config validate /nonexistent/node.toml\n"
        block = Block(ROOT / "README.md", 1, "sh", text, None, "")
        with pytest.raises(pytest.fail.Exception, match="exited 3"):
            check_shell_block(block, tmp_path)


# --- links ---------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.MULTILINE)}


def links() -> list[tuple[Path, str]]:
    found = []
    for path in doc_files():
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        found += [(path, target) for target in _LINK.findall(text)]
    return found


class TestLinks:
    @pytest.mark.parametrize(
        ("source", "target"), links(), ids=lambda v: v.name if isinstance(v, Path) else v
    )
    def test_relative_link_resolves(self, source: Path, target: str) -> None:
        """A relative link names an existing file, and its #fragment a heading there."""
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return  # https:, mailto: ...
        file, _, fragment = target.partition("#")
        resolved = (source.parent / file).resolve() if file else source
        assert resolved.exists(), f"{source.name}: {target} leads nowhere"
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved), f"{source.name}: no heading #{fragment}"

    def test_no_mention_of_a_missing_doc(self) -> None:
        """A page named as ``docs/NAME.md`` in the docs or in the code exists."""
        sources = [*doc_files()]
        for package in ("pywats_actors", "converters", "supervisors"):
            sources += sorted((ROOT / package).rglob("*.py"))
        for path in sources:
            for name in re.findall(r"\bdocs/([\w-]+\.md)\b", path.read_text(encoding="utf-8")):
                where = path.relative_to(ROOT)
                assert (ROOT / "docs" / name).exists(), f"{where} names docs/{name}: no such page"


class TestInlineCommands:
    def test_options_named_in_text_exist(self) -> None:
        """Every ``--option`` of a `pywats-node ...` code span in the text (the command tables
        of operators.md and configuration.md, say) is an option of that very subcommand."""
        import argparse

        from pywats_actors._cli import _parser

        checked = 0
        for path in doc_files():
            text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
            for span in re.findall(r"`(?:\S*/)?(pywats-node [^`]+)`", text):
                parser = _parser()
                for word in span.replace("\\|", "|").split()[1:]:
                    sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
                    if not sub or word not in sub[0].choices:
                        break
                    parser = sub[0].choices[word]
                known = {o for action in parser._actions for o in action.option_strings}
                for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", span):
                    assert option in known, f"{path.name}: `{span}`: {parser.prog} has no {option}"
                    checked += 1
        assert checked > 20  # the tables were found
