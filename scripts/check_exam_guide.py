#!/usr/bin/env python3
"""Keeps docs/exam-guide.md (and the README's exam table) honest.

Every table row of the guide names what shows a rule and what asserts it, in backticks:

- a file:        `shared/src/store/locking.rs`, `template.yaml` (a path in the repository)
- a test:        `tests/ownership.rs::a_customer_lists_only_their_own_orders`: the file exists and
                 holds `fn a_customer_lists_only_their_own_orders` under `#[test]` or
                 `#[tokio::test]` (no other form: no module paths, no abbreviations)
- a demo step:   `demo:conflict`: `fn conflict` exists in local/src/demo/
- a study note:  `002_da7eadcbe4073705.txt`: one of the five notes the project grew from

Fails (exit 1), naming each problem, when a named file, test or demo step does not exist; when a
[CORE] id is missing, repeated or unknown; when a row graded FULL names no file in "Shown in" or
no test in "Asserted by"; when a FULL row has a cell starting "Not shown"; when a NONE row names a
test; or when a row of the README's exam table names no test.
Prints how many of the 94 [CORE] items have a file and a test, and how many are FULL.

Python 3 standard library only. `--self-test` checks the checker on a fixture with bad rows.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

# The 94 [CORE] items of the exam checklist (concepts.md), by the ids of its audit (coverage.md).
CORE_IDS = """
1.1-a 1.1-b 1.1-c 1.2-a 1.3-a 1.3-b 1.6-a 1.6-b 1.8-a
2.1-a 2.1-b 2.1-c 2.2-a 2.2-b 2.2-c 2.4-a 2.4-b 2.4-c 2.4-d 2.5-a 2.7-a 2.7-b 2.7-c 2.8-a
2.9-a 2.9-b 2.9-c 2.9-d 2.9-e
3.1-a 3.1-b 3.1-c 3.1-d 3.2-a 3.2-b 3.2-c 3.2-d 3.3-a 3.3-b 3.4-a 3.12-a
4-a 4-b 4-c 4-d 4-e 4-f
5-a 5-b 5-c 5-d 5-e 5-f 5-g
6-a 6-b 6-c 6-d 6-e 6-f 6-g 6-h 6-i
7-a 7-b 7-c 7-d 7-e 7-f 7-g 7-h 7-i 7-j 7-k
8.1-a 8.1-b 8.1-c 8.1-d 8.1-e 8.1-f 8.2-a 8.2-b 8.2-c 8.2-d 8.2-e
9-a 9-b 9-c 9-d 9-e 9-f
10-a 10-b 10-c
""".split()

# The study notes the guide corrects, cited by file name (they live outside the repository).
NOTES = {
    "000_069ba4a9f8438a6f.txt",
    "001_495d6206c345c50f.txt",
    "002_da7eadcbe4073705.txt",
    "003_baf908dd70b8f65e.txt",
    "004_efc5e78431d517c4.txt",
}

GRADES = ("FULL", "PARTIAL", "NONE")
ID_CELL = re.compile(r"^\d+(\.\d+)?-[a-z]$")
CODE_SPAN = re.compile(r"`([^`]+)`")
FILE_REF = re.compile(
    r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*"
    r"(\.(rs|py|yaml|yml|toml|md|sh|json|guard|pem|txt)|/)$|^(Makefile|\.ci/run)$"
)
TEST_REF = re.compile(r"^([A-Za-z0-9_./-]+\.rs)::([A-Za-z_][A-Za-z0-9_]*)$")
DEMO_REF = re.compile(r"^demo:([a-z_][a-z0-9_]*)$")
NOTE_REF = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
SHOWN_IN, ASSERTED_BY = 2, 3  # the columns of a [CORE] row that the count reads
TEST_ATTRIBUTE = re.compile(r"^#\[(tokio::)?test(\(.*\))?\]$")


class Repository:
    """The files of the repository, and the test functions and demo steps they define."""

    def __init__(self, root: Path):
        self.root = root
        self._tests: dict[str, set[str]] = {}
        self._demo_steps: set[str] | None = None

    def has_file(self, path: str) -> bool:
        target = self.root / path
        return target.is_dir() if path.endswith("/") else target.is_file()

    def tests_in(self, path: str) -> set[str]:
        """The names of the functions of `path` that carry a #[test] or #[tokio::test] attribute."""
        if path not in self._tests:
            self._tests[path] = test_functions((self.root / path).read_text(encoding="utf-8"))
        return self._tests[path]

    def demo_steps(self) -> set[str]:
        if self._demo_steps is None:
            names: set[str] = set()
            for source in sorted((self.root / "local/src/demo").glob("*.rs")):
                names |= set(
                    re.findall(r"\bfn\s+([a-z_][a-z0-9_]*)", source.read_text(encoding="utf-8"))
                )
            self._demo_steps = names
        return self._demo_steps


def test_functions(source: str) -> set[str]:
    """Functions whose attribute lines (directly above, comments allowed) include a test one."""
    names = set()
    lines = source.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^\s*(pub(\([^)]*\))?\s+)?(async\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)", line)
        if not match:
            continue
        above = index - 1
        while above >= 0:
            text = lines[above].strip()
            if TEST_ATTRIBUTE.match(text):
                names.add(match.group(4))
                break
            if text.startswith("#[") or text.startswith("//"):
                above -= 1
                continue
            break
    return names


def table_rows(text: str):
    """(line number, cells) of every table row that is not a header or separator line."""
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
            continue
        following = lines[number] if number < len(lines) else ""
        if following.startswith("|") and re.fullmatch(r"[|\s:-]+", following):
            continue  # a header row
        yield number, cells


def check_reference(repo: Repository, span: str) -> tuple[str, str | None]:
    """Classifies a code span: ('file'|'test'|'demo'|'note'|'other', problem or None)."""
    if NOTE_REF.match(span):
        return "note", None if span in NOTES else f"`{span}` is not one of the five study notes"
    test = TEST_REF.match(span)
    if test:
        path, name = test.groups()
        if not repo.has_file(path):
            return "test", f"`{span}`: no file {path}"
        if name not in repo.tests_in(path):
            return "test", f"`{span}`: no #[test] or #[tokio::test] fn {name} in {path}"
        return "test", None
    demo = DEMO_REF.match(span)
    if demo:
        if demo.group(1) not in repo.demo_steps():
            return "demo", f"`{span}`: no fn {demo.group(1)} in local/src/demo/"
        return "demo", None
    if "::" in span and re.search(r"\.rs::", span):
        return "test", f"`{span}`: a test is written path/to/file.rs::function_name"
    if FILE_REF.match(span) and ("/" in span or "." in span):
        if not repo.has_file(span):
            return "file", f"`{span}`: no such file in the repository"
        return "file", None
    return "other", None


def check_guide(repo: Repository, guide: Path) -> tuple[list[str], dict[str, dict]]:
    problems: list[str] = []
    core: dict[str, dict] = {}
    for number, cells in table_rows(guide.read_text(encoding="utf-8")):
        where = f"{guide.name}:{number}"
        # A [CORE] row: | ID | Rule | Shown in | Asserted by | Demo | Grade | Gaps |. Only a file
        # of "Shown in" and a test of "Asserted by" count; a reference elsewhere is checked too.
        shown: set[str] = set()
        for column, cell in enumerate(cells):
            for span in CODE_SPAN.findall(cell):
                kind, problem = check_reference(repo, span)
                if problem:
                    problems.append(f"{where}: {problem}")
                elif (column, kind) in ((SHOWN_IN, "file"), (ASSERTED_BY, "test")):
                    shown.add(kind)
        row_id = cells[0].strip("*` ")
        if not ID_CELL.match(row_id):
            continue
        if row_id not in CORE_IDS:
            problems.append(f"{where}: {row_id} is no [CORE] id")
            continue
        if row_id in core:
            problems.append(f"{where}: {row_id} again (first on line {core[row_id]['line']})")
            continue
        grade = next((g for g in GRADES if any(cell.strip("* ") == g for cell in cells)), None)
        says_not_shown = any(cell.startswith("Not shown") for cell in cells)
        if grade is None:
            problems.append(f"{where}: {row_id} has no grade cell (FULL, PARTIAL or NONE)")
        file_and_test = shown == {"file", "test"}
        if grade == "FULL" and not file_and_test:
            problems.append(f"{where}: {row_id} is FULL but names no existing file and test")
        if says_not_shown and grade == "FULL":
            problems.append(f"{where}: {row_id} says 'Not shown' and is graded FULL")
        if grade == "NONE" and "test" in shown:
            problems.append(f"{where}: {row_id} is NONE yet names a test")
        core[row_id] = {
            "line": number,
            "grade": grade,
            "file_and_test": file_and_test,
        }
    for missing in (i for i in CORE_IDS if i not in core):
        problems.append(f"{guide.name}: no row for [CORE] item {missing}")
    return problems, core


def check_stated_counts(guide: Path, core: dict[str, dict]) -> list[str]:
    """The counts and the list of items without a test that the guide states match its rows."""
    text = guide.read_text(encoding="utf-8")
    with_test = sum(1 for item in core.values() if item["file_and_test"])
    grades = {g: sum(1 for item in core.values() if item["grade"] == g) for g in GRADES}
    stated = {
        "with a file and a test": (
            r"^\| \[CORE\] items with a file and a test[^|]*\| (\d+) of 94 \|$",
            with_test,
        ),
        **{g: (rf"^\| {g} \| (\d+)\b[^|]*\|$", grades[g]) for g in GRADES},
    }
    problems = []
    for what, (pattern, actual) in stated.items():
        match = re.search(pattern, text, re.MULTILINE)
        if not match:
            problems.append(f"{guide.name}: the coverage table states no count for {what}")
        elif int(match.group(1)) != actual:
            problems.append(
                f"{guide.name}: the coverage table says {match.group(1)} {what}, the rows {actual}"
            )
    listed = re.search(
        r"these items name no\s+test that asserts their rule: ((?:\d+(?:\.\d+)?-[a-z],?\s+)*"
        r"\d+(?:\.\d+)?-[a-z])\.",
        text,
    )
    without = [i for i in CORE_IDS if i in core and not core[i]["file_and_test"]]
    if not listed:
        problems.append(f"{guide.name}: no list of the [CORE] items without a test")
    elif re.split(r",\s+", listed.group(1)) != without:
        should_be = ", ".join(without)
        problems.append(f"{guide.name}: the list of items without a test should be {should_be}")
    return problems


def check_readme(repo: Repository, readme: Path) -> list[str]:
    """Every row of the README's exam table names at least one test, and every reference exists."""
    problems: list[str] = []
    text = readme.read_text(encoding="utf-8")
    start = text.find("\n## Exam concepts")
    if start < 0:
        return [f"{readme.name}: no '## Exam concepts' section"]
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else len(text)]
    offset = text[:start].count("\n") + 1
    rows = 0
    for number, cells in table_rows(section):
        rows += 1
        where = f"{readme.name}:{offset + number - 1}"
        tests = 0
        for cell in cells:
            for span in CODE_SPAN.findall(cell):
                kind, problem = check_reference(repo, span)
                if problem:
                    problems.append(f"{where}: {problem}")
                elif kind == "test":
                    tests += 1
        if tests == 0:
            problems.append(f"{where}: an exam row that names no test (`path.rs::test_name`)")
    if rows == 0:
        problems.append(f"{readme.name}: the exam section has no table")
    return problems


def run(root: Path, guide: Path, readme: Path | None) -> int:
    repo = Repository(root)
    problems, core = check_guide(repo, guide)
    problems += check_stated_counts(guide, core)
    if readme is not None:
        problems += check_readme(repo, readme)
    with_test = [i for i in CORE_IDS if core.get(i, {}).get("file_and_test")]
    full = [i for i in CORE_IDS if core.get(i, {}).get("grade") == "FULL"]
    print(
        f"{guide.name}: {len(with_test)} of {len(CORE_IDS)} [CORE] items have a file and a test "
        f"that exist; {len(full)} are FULL (shown, asserted by a test, explained)"
    )
    without = [i for i in CORE_IDS if i in core and not core[i]["file_and_test"]]
    if without:
        print(f"without a test: {' '.join(without)}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


SELF_TEST_FILES = {
    "src/lib.rs": """
#[test]
fn a_real_test() {}

#[tokio::test(flavor = "multi_thread")]
// a comment between
async fn an_async_test() {}

fn a_helper() {}
""",
    "local/src/demo/mod.rs": "async fn conflict() {}\n",
}

SELF_TEST_GUIDE = """
| ID | rule | shown in | test | demo | grade |
|---|---|---|---|---|---|
| 1.1-a | good | `src/lib.rs` | `src/lib.rs::a_real_test` | `demo:conflict` | FULL |
| 1.1-b | async | `src/lib.rs` | `src/lib.rs::an_async_test` | | FULL |
| 1.1-c | a helper is no test | `src/lib.rs` | `src/lib.rs::a_helper` | | FULL |
| 1.2-a | missing file | `src/gone.rs` | `src/gone.rs::a_real_test` | | FULL |
| 1.3-a | FULL without a test | `src/lib.rs` | | | FULL |
| 1.3-b | no test | | | | NONE |
| 1.6-b | FULL but | `src/lib.rs` | `src/lib.rs::a_real_test` | | FULL | Not shown: anything |
| 1.3-b | repeated | | | | NONE |
| 1.6-a | bad demo | `002_da7eadcbe4073705.txt` | | `demo:nothing` | PARTIAL |
| 1.8-b | bad note | `009_0000000000000000.txt` | | | PARTIAL |
| 9.9-z | unknown id | | | | NONE |
"""

SELF_TEST_README = """
## Exam concepts

| concept | test |
|---|---|
| fine | `src/lib.rs::a_real_test` |
| no test | `src/lib.rs` |

## Next
"""

SELF_TEST_EXPECTED = [
    "no #[test] or #[tokio::test] fn a_helper",
    "`src/gone.rs`: no such file",
    "`src/gone.rs::a_real_test`: no file src/gone.rs",
    "1.3-a is FULL but names no existing file and test",
    "1.3-b again",
    "1.6-b says 'Not shown' and is graded FULL",
    "`009_0000000000000000.txt` is not one of the five study notes",
    "`demo:nothing`: no fn nothing",
    "9.9-z is no [CORE] id",
    "1.8-b is no [CORE] id",
    "no row for [CORE] item 1.8-a",
    "an exam row that names no test",
]


def self_test() -> int:
    """Runs the checks on a fixture whose bad rows must each be named, and whose good rows pass."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for path, text in SELF_TEST_FILES.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
        guide = root / "guide.md"
        guide.write_text(SELF_TEST_GUIDE, encoding="utf-8")
        readme = root / "README.md"
        readme.write_text(SELF_TEST_README, encoding="utf-8")
        repo = Repository(root)
        problems, core = check_guide(repo, guide)
        problems += check_readme(repo, readme)
    failures = [e for e in SELF_TEST_EXPECTED if not any(e in p for p in problems)]
    unexpected = [p for p in problems if "1.1-a" in p or "1.1-b" in p or "a_real_test`: no #" in p]
    if not core.get("1.1-a", {}).get("file_and_test") or not core["1.1-b"]["file_and_test"]:
        failures.append("the good rows 1.1-a and 1.1-b were not counted")
    for failure in failures:
        print(f"self-test: not reported: {failure}", file=sys.stderr)
    for problem in unexpected:
        print(f"self-test: a good row was refused: {problem}", file=sys.stderr)
    if failures or unexpected:
        return 1
    print(f"self-test: the {len(SELF_TEST_EXPECTED)} bad rows were refused, the good ones counted")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    if argv[1:]:
        print("usage: scripts/check_exam_guide.py [--self-test]", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parent.parent
    return run(root, root / "docs/exam-guide.md", root / "README.md")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
