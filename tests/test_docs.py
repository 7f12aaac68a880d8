"""The docs are the interface: README.md and docs/*.md are checked against the code.

* The synopsis of README.md ("## Command line", the ``text`` block) lists every
  command of the real parser with every one of its long options, and nothing
  the parser lacks.
* Every markdown table renders: a header, a ``---`` separator, rows of the
  header's width, no blank line inside.
* The docs cite only markdown files that are in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from qunlearn.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN = [README, *DOCS]
PROTOCOL = ROOT / "docs" / "PROTOCOL.md"
PROTOCOL_SECTIONS = ("Claims to reproduce", "Data", "Poisoning", "Models", "Training settings", "Unlearning",
                     "Loss-landscape analysis")

LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
WORD = re.compile(r"[a-z][a-z0-9_-]*")
MAX_SYNOPSIS_WIDTH = 99


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ------------------------------------------------------------------ the parser


def _parser_commands() -> dict[tuple[str, ...], object]:
    """Every leaf command of the CLI by its path, e.g. ``("data", "xxz")``."""
    found = {}

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, path + (name,))
        else:
            found[path] = cmd

    walk(typer.main.get_command(app), ())
    return found


def _parser_options(cmd) -> dict[str, bool]:
    """Long option names of a command (secondary ``--no-x`` names too; not --help) -> required."""
    out = {}
    for p in cmd.params:
        if p.param_type_name != "option":
            continue
        for name in (*p.opts, *p.secondary_opts):
            if name.startswith("--") and name != "--help":
                out[name] = bool(p.required)
    return out


PARSER = _parser_commands()


# ------------------------------------------------------------------ the synopsis


def _code_blocks(text: str, lang: str) -> list[list[str]]:
    blocks, current, inside = [], None, False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if not inside:
                inside, current = True, ([] if line.strip() == "```" + lang else None)
            else:
                inside = False
                if current is not None:
                    blocks.append(current)
            continue
        if inside and current is not None:
            current.append(line)
    return blocks


def _section(text: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"README.md has no '## {heading}' section"
    return m.group(1)


def _synopsis_lines() -> list[str]:
    blocks = _code_blocks(_section(README.read_text(encoding="utf-8"), "Command line"), "text")
    assert len(blocks) == 1, "the README's '## Command line' section must hold exactly one ```text block"
    return blocks[0]


def _command_path(first_line: str) -> tuple[str, ...]:
    """The command a synopsis line documents: the words after ``qunlearn`` that name (sub)commands.

    Words are followed down the parser's command tree; a word where the parser expects a
    subcommand but has none of that name is kept, so that the path names an unknown command.
    """
    tokens = first_line.split()[1:]
    path: tuple[str, ...] = ()
    for tok in tokens:
        groups = {p[: len(path) + 1] for p in PARSER if len(p) > len(path) and p[: len(path)] == path}
        if path in PARSER or not WORD.fullmatch(tok):
            break  # a leaf command: the rest are its arguments and options
        path += (tok,)
        if path not in groups:
            break  # unknown to the parser
    return path


def _synopsis() -> tuple[dict[tuple[str, ...], dict], set[tuple[str, ...]], set[str], list[str]]:
    """Parse the synopsis.

    Returns ``{command path: {"options": [(flag, bracket depth)], "executor": bool}}``, the
    commands the EXECUTOR heading names, the options of the EXECUTOR paragraph, and the lines.
    """
    lines = _synopsis_lines()
    commands: dict[tuple[str, ...], dict] = {}
    executor_names: set[tuple[str, ...]] = set()
    executor_options: set[str] = set()
    current = None
    in_executor = False
    for line in lines:
        if line.startswith("qunlearn "):
            path = _command_path(line)
            assert path not in commands, f"the synopsis lists 'qunlearn {' '.join(path)}' twice"
            current = commands[path] = {"options": [], "executor": False}
            in_executor = False
        elif line.startswith("EXECUTOR"):
            m = re.match(r"EXECUTOR \(([^)]*)\)", line)
            assert m, f"the EXECUTOR line must name its commands in parentheses: {line!r}"
            executor_names = {tuple(n.split()) for n in m.group(1).split(",")}
            current, in_executor = None, True
            continue
        elif not line.strip():
            current = None  # a blank line ends a command's lines
            continue
        if in_executor:
            executor_options.update(LONG_OPTION.findall(line))
        elif current is not None:
            current["executor"] |= "EXECUTOR" in line
            depth = 0
            for m in re.finditer(r"\[|\]|" + LONG_OPTION.pattern, line):
                tok = m.group(0)
                if tok == "[":
                    depth += 1
                elif tok == "]":
                    depth -= 1
                else:
                    current["options"].append((tok, depth))
        else:
            assert False, f"synopsis line outside any command: {line!r}"
    return commands, executor_names, executor_options, lines


def _documented(path, commands, executor_names, executor_options) -> set[str]:
    flags = {f for f, _ in commands[path]["options"]}
    if path in executor_names:
        flags |= executor_options
    return flags


def test_every_parser_command_is_in_the_synopsis_and_back():
    commands, executor_names, _, _ = _synopsis()
    show = lambda paths: sorted("qunlearn " + " ".join(p) for p in paths)  # noqa: E731
    assert not (set(PARSER) - set(commands)), (
        f"commands missing from the README synopsis: {show(set(PARSER) - set(commands))}")
    assert not (set(commands) - set(PARSER)), (
        f"README synopsis lists commands the CLI lacks: {show(set(commands) - set(PARSER))}")
    assert executor_names <= set(PARSER), (
        f"the EXECUTOR line names unknown commands: {show(executor_names - set(PARSER))}")


@pytest.mark.parametrize("path", sorted(PARSER), ids=lambda p: " ".join(p))
def test_synopsis_options_match_the_parser(path):
    commands, executor_names, executor_options, _ = _synopsis()
    if path not in commands:
        pytest.fail(f"'qunlearn {' '.join(path)}' is not in the README synopsis")
    documented = _documented(path, commands, executor_names, executor_options)
    real = set(_parser_options(PARSER[path]))
    name = "qunlearn " + " ".join(path)
    assert not (documented - real), f"{name}: the README documents flags the CLI lacks: {sorted(documented - real)}"
    assert not (real - documented), f"{name}: flags missing from the README synopsis: {sorted(real - documented)}"


@pytest.mark.parametrize("path", sorted(PARSER), ids=lambda p: " ".join(p))
def test_synopsis_brackets_optional_flags_only(path):
    commands, _, _, _ = _synopsis()
    if path not in commands:
        pytest.skip("not in the synopsis (reported by test_synopsis_options_match_the_parser)")
    required = _parser_options(PARSER[path])
    name = "qunlearn " + " ".join(path)
    for flag, depth in commands[path]["options"]:
        if flag not in required:
            continue  # reported by test_synopsis_options_match_the_parser
        if required[flag]:
            assert depth == 0, f"{name}: {flag} is required but shown in [brackets]"
        else:
            assert depth > 0, f"{name}: {flag} is optional (it has a default) but not shown in [brackets]"


def test_executor_paragraph_names_the_commands_that_take_it():
    commands, executor_names, executor_options, _ = _synopsis()
    assert executor_options, "the synopsis has no EXECUTOR paragraph with its options"
    marked = {p for p, c in commands.items() if c["executor"]}
    assert marked == executor_names, (
        f"commands with [EXECUTOR] in the synopsis {sorted(marked)} differ from those the EXECUTOR line names "
        f"{sorted(executor_names)}")
    takes = {p for p, cmd in PARSER.items() if executor_options <= set(_parser_options(cmd))}
    assert executor_names == takes, (
        f"the EXECUTOR line names {sorted(executor_names)} but the commands taking {sorted(executor_options)} "
        f"are {sorted(takes)}")


def test_synopsis_lines_are_short_and_balanced():
    _, _, _, lines = _synopsis()
    for line in lines:
        assert len(line) <= MAX_SYNOPSIS_WIDTH, f"synopsis line over {MAX_SYNOPSIS_WIDTH} characters: {line!r}"
        assert line.count("[") == line.count("]"), f"unbalanced [brackets] in synopsis line: {line!r}"


# ------------------------------------------------------------------ tables


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of a markdown text outside fenced code blocks; fences become blank."""
    out, fence = [], None
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*(```+|~~~+)", line)
        if fence is None and m:
            fence = m.group(1)[0] * 3
            out.append((i, ""))
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            out.append((i, ""))
        else:
            out.append((i, line))
    return out


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def _tables(path: Path) -> list[list[tuple[int, str]]]:
    """Runs of consecutive table rows (lines starting with '|'), outside code blocks."""
    tables, current = [], []
    for i, line in _prose_lines(path.read_text(encoding="utf-8")):
        if line.lstrip().startswith("|"):
            current.append((i, line))
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


SEPARATOR_CELL = re.compile(r":?-{3,}:?")
TABLES = [(path, t) for path in MARKDOWN for t in _tables(path)]


def test_the_docs_have_tables():
    assert TABLES, "no markdown table found: the table parser is broken"


@pytest.mark.parametrize("path,table", TABLES, ids=[f"{_rel(p)}:{t[0][0]}" for p, t in TABLES])
def test_tables_are_well_formed(path, table):
    where = f"{_rel(path)}, table at line {table[0][0]}"
    assert len(table) >= 2, (f"{where}: a lone row, not a table (a blank line inside a table splits it in two)")
    header = _cells(table[0][1])
    sep_line, sep = table[1][0], _cells(table[1][1])
    assert all(SEPARATOR_CELL.fullmatch(c) for c in sep), (
        f"{where}: line {sep_line} must be the separator row (|---|---|); a blank line inside a table splits it "
        f"and leaves a headless half")
    assert len(sep) == len(header), f"{where}: the separator has {len(sep)} cells, the header {len(header)}"
    for i, row in table[2:]:
        n = len(_cells(row))
        assert n == len(header), (f"{where}: line {i} has {n} cells, the header {len(header)} "
                                  f"(a literal | in a cell must be written \\|)")


def test_blank_line_splits_are_caught(tmp_path):
    """The checker itself: a table split by a blank line fails, a whole one passes."""
    whole = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
    split = "| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n"

    def ok(text):
        f = tmp_path / "t.md"
        f.write_text(text)
        return all(len(t) >= 2 and all(SEPARATOR_CELL.fullmatch(c) for c in _cells(t[1][1])) for t in _tables(f))

    assert ok(whole) and not ok(split)
    assert len(_cells(r"| a | (\|H\| + 1) |")) == 2 and len(_cells("| a | (|H| + 1) |")) == 4


# ------------------------------------------------------------------ references

# Files that qunlearn writes into a run directory: named in the docs as outputs, not cited.
RUN_OUTPUTS = {"report.md"}
MD_REFERENCE = re.compile(r"(?<![\w./-])((?:\.{1,2}/)?[\w./-]*[\w-]\.md)\b")


def _resolves(ref: str, doc: Path) -> bool:
    candidates = [doc.parent / ref, ROOT / ref, ROOT / "docs" / ref]
    for c in candidates:
        try:
            c.resolve().relative_to(ROOT)
        except ValueError:
            continue  # outside the repository
        if c.is_file():
            return True
    return False


@pytest.mark.parametrize("doc", MARKDOWN, ids=_rel)
def test_docs_cite_only_files_in_the_repository(doc):
    text = doc.read_text(encoding="utf-8")
    outside = "../" + "shared"  # the team folder beside the repository, which users do not have
    assert outside not in text, f"{_rel(doc)} cites a path outside the repository ({outside})"
    missing = set()
    for m in MD_REFERENCE.finditer(text):
        ref = m.group(1)
        if Path(ref).name in RUN_OUTPUTS:
            continue
        if not _resolves(ref, doc):
            missing.add(ref)
    assert not missing, f"{_rel(doc)} cites markdown files that are not in the repository: {sorted(missing)}"


def test_readme_links_the_protocol_near_the_top():
    head = README.read_text(encoding="utf-8").split("\n## ", 1)[0]
    assert "(docs/PROTOCOL.md)" in head, "README.md must link docs/PROTOCOL.md before its first section"


def test_protocol_has_the_sections_the_code_cites():
    text = PROTOCOL.read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (.+?)\s*$", text, flags=re.M))
    assert set(PROTOCOL_SECTIONS) <= headings, f"docs/PROTOCOL.md lacks sections {set(PROTOCOL_SECTIONS) - headings}"
    assert "arXiv:2508.02422" in text.split("\n## ", 1)[0], "docs/PROTOCOL.md must cite the paper at the top"


def test_section_references_in_the_sources_name_protocol_sections():
    """Every ``(PROTOCOL.md, "Section")`` in src/ and tests/ names a section of docs/PROTOCOL.md."""
    headings = set(re.findall(r"^## (.+?)\s*$", PROTOCOL.read_text(encoding="utf-8"), flags=re.M))
    bad = []
    for f in [*ROOT.glob("src/qunlearn/**/*.py"), *ROOT.glob("tests/*.py")]:
        if f.resolve() == Path(__file__).resolve():
            continue  # this file spells out the patterns it looks for
        text = f.read_text(encoding="utf-8")
        gone = "PAPER" + ".md"  # the old, external protocol file (spelled so that this file does not cite it)
        assert gone not in text, f"{_rel(f)} cites {gone}, which is not in the repository: cite docs/PROTOCOL.md"
        for m in re.finditer(r"PROTOCOL\.md,\s+(?:section\s+)?\"([^\"]+)\"", text):
            if m.group(1) not in headings:
                bad.append(f"{_rel(f)}: {m.group(1)!r}")
    assert not bad, f"references to sections docs/PROTOCOL.md lacks: {bad}"


def test_protocol_lists_every_claim_the_report_tests():
    """docs/PROTOCOL.md numbers exactly the claims that ``qunlearn report`` tests, 1 to N."""
    from qunlearn import registry

    section = PROTOCOL.read_text(encoding="utf-8").split("## Claims to reproduce", 1)[1].split("\n## ", 1)[0]
    numbers = [int(n) for n in re.findall(r"^(\d+)\. \*\*", section, flags=re.M)]
    tested = sorted(rule.number for e in registry.experiments().values() for rule in e.claims)
    assert numbers == tested == list(range(1, len(tested) + 1)), (numbers, tested)
    owners = {rule.number: e.name for e in registry.experiments().values() for rule in e.claims}
    text = " ".join(section.split())
    for name in sorted(set(owners.values())):  # "claims 1 to 3 with the alpha sweep (`poison`; ..."
        assert f"(`{name}`" in text, f"docs/PROTOCOL.md does not say which claims {name} tests"
    words = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    assert f"tests {words.get(len(numbers), len(numbers))} claims" in " ".join(section.split())


def test_readme_python_api_block_runs_as_shown(tmp_path, monkeypatch):
    """The first block of "## Python API" holds the API's calls and runs as written (from a fresh directory)."""
    block = "\n".join(_code_blocks(_section(README.read_text(encoding="utf-8"), "Python API"), "python")[0])
    for call in ('ql.run("poison", preset="quick", dataset="mnist", out="runs/nb"', "run.results",
                 'run.figure("figure2")', 'ql.load("runs/nb")', "again.claims", "ql.experiments(), ql.datasets(), "
                 "ql.models()"):
        assert call in block, f"the README's Python API block lacks {call}"
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert (tmp_path / "runs" / "nb" / "results.csv").exists() and scope["fig"].axes
    assert [c.id for c in scope["again"].claims][:1] == ["mnist/1"]
