"""The docs say what the code measured: every quoted number matches its results file, and the pages hold up.

Quotes (``0.767<!--demo:test.balanced_accuracy-->``) are read and rewritten by ``benchmarks/docs_numbers.py``;
these tests check its functions on small examples, then every page in the repository against the committed
results files in ``docs/results/``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("docs_numbers", ROOT / "benchmarks" / "docs_numbers.py")
dn = sys.modules.setdefault("docs_numbers", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(dn)

README = ROOT / "README.md"
PAGES = dn.doc_files(ROOT)  # README.md, docs/**/*.md, benchmarks/README.md
ALL_MARKDOWN = [*PAGES, ROOT / "CHANGELOG.md"]
HISTORY = re.compile(r"\b(down from|up from|before this|previously|used to be|no longer|as before|"
                     r"an earlier run)\b|(^|[.!?]\s+)Now\b", re.IGNORECASE | re.MULTILINE)
TEST_COUNT = re.compile(r"\b\d[\d,]*\s+(?:tests|test cases)\b", re.IGNORECASE)
DURATION = re.compile(r"(?<![\w.])(\d[\d,.]*)(<!--[^>]*-->)?\s?(ms|s|sec|seconds|min|minutes|h|hours)\b")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FAKE = {"demo": {"machine": "Intel(R) Xeon(R) Processor, 2 cores", "date": "2026-12-01", "command": "python x.py",
                 "n": 1279, "x": 0.7674, "ci": [0.55, 0.8923], "neg": -0.123, "ok": True,
                 "stages": {"4 training": 17.06}}}


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _prose(text: str) -> str:
    """The text without code blocks and HTML comments (what a reader reads as sentences)."""
    return re.sub(r"<!--.*?-->", "", re.sub(r"```.*?```", "", text, flags=re.DOTALL), flags=re.DOTALL)


# ---- the functions of benchmarks/docs_numbers.py ----------------------------------------------------------------

def test_quotes_are_found_with_the_value_they_show():
    text = ("| 0.77<!--demo:x--> | [0.550<!--demo:ci.0-->, 0.892<!--demo:ci.1-->] |\n"
            "(Intel(R) Xeon(R) Processor, 2 cores<!--demo:machine-->, 2026-12-01<!--demo:date-->) "
            "`python x.py`<!--demo:command--> 1,279<!--demo:n|int--> −0.12<!--demo:neg--> "
            "17.1<!--demo:stages.4 training--> <!--TODO real: not a quote-->")
    shown = [(q.shown, q.file, q.key, q.fmt) for q in dn.find_quotes(text, FAKE)]
    assert shown == [("0.77", "demo", "x", None), ("0.550", "demo", "ci.0", None), ("0.892", "demo", "ci.1", None),
                     ("Intel(R) Xeon(R) Processor, 2 cores", "demo", "machine", None),
                     ("2026-12-01", "demo", "date", None), ("python x.py", "demo", "command", None),
                     ("1,279", "demo", "n", "int"), ("−0.12", "demo", "neg", None),
                     ("17.1", "demo", "stages.4 training", None)]
    assert [q.line for q in dn.find_quotes(text)] == [1, 1, 1, 2, 2, 2, 2, 2, 2]


def test_key_paths_resolve_through_dicts_and_lists_and_name_what_is_missing():
    assert dn.resolve(FAKE["demo"], "ci.1") == 0.8923
    assert dn.resolve({"a": [{"b": 2}]}, "a.0.b") == 2
    with pytest.raises(KeyError, match="no 'nope' under ci|ci is a list"):
        dn.resolve(FAKE["demo"], "ci.nope")
    with pytest.raises(KeyError, match="no 'y' under the top"):
        dn.resolve(FAKE["demo"], "y")


@pytest.mark.parametrize("value, fmt, shown, expected", [
    (0.7674, None, "0.000", "0.767"), (0.7674, None, "0.0", "0.8"), (0.7674, ".2f", "", "0.77"),
    (0.7674, "pct1", "", "76.7"), (1279, "int", "", "1,279"), (187.8, "int", "", "188"), (1279, None, "0,000", "1,279"),
    (-0.123, None, "−0.00", "−0.12"), (-0.123, None, "-0.00", "-0.12"), (True, None, "", "true"),
    ("AMD EPYC 7B13, 2 cores", None, "", "AMD EPYC 7B13, 2 cores"),
])
def test_values_are_formatted_as_the_text_shows_them_or_by_the_format(value, fmt, shown, expected):
    assert dn.format_value(value, fmt, shown) == expected


def test_formats_outside_the_small_set_and_unshowable_values_are_refused():
    with pytest.raises(ValueError, match="unknown format"):
        dn.format_value(0.5, "%")
    with pytest.raises(ValueError, match="quote one item"):
        dn.format_value([0.1, 0.2], None, "0.1")


def test_check_tolerates_one_unit_of_the_last_shown_digit_and_nothing_more():
    assert dn.matches("0.767", "0.768") and dn.matches("0.767", "0.766") and dn.matches("188", "187")
    assert not dn.matches("0.767", "0.769") and not dn.matches("0.77", "0.767") and not dn.matches("AMD", "Intel")
    text = "a 0.768<!--demo:x--> b 0.760<!--demo:x--> c 1,279<!--demo:nope--> d 1<!--other:x-->"
    problems = dn.check(text, FAKE)
    assert len(problems) == 3
    assert "shows '0.760', the file holds '0.767'" in problems[0]
    assert "no 'nope'" in problems[1] and "no results file other.json" in problems[2]


def test_render_writes_every_value_from_the_file_and_is_stable():
    text = ("| 0.000<!--demo:x--> | [0.00<!--demo:ci.0-->, 0.00<!--demo:ci.1-->] | 0<!--demo:n|int--> s |\n"
            "(AMD EPYC 7B13, 2 cores<!--demo:machine-->, 2025-01-01<!--demo:date-->) `old`<!--demo:command-->\n"
            "goal met: (false<!--demo:ok-->) 0.0<!--demo:stages.4 training-->\n")
    new, problems = dn.render(text, FAKE)
    assert problems == []
    assert new == ("| 0.767<!--demo:x--> | [0.55<!--demo:ci.0-->, 0.89<!--demo:ci.1-->] | 1,279<!--demo:n|int--> s |\n"
                   "(Intel(R) Xeon(R) Processor, 2 cores<!--demo:machine-->, 2026-12-01<!--demo:date-->) "
                   "`python x.py`<!--demo:command-->\ngoal met: (true<!--demo:ok-->) 17.1<!--demo:stages.4 training-->\n")
    assert dn.render(new, FAKE) == (new, []) and dn.check(new, FAKE) == []


def test_render_refuses_a_changed_string_whose_start_it_cannot_tell():
    text = "measured on AMD EPYC 7B13, 2 cores<!--demo:machine--> today"
    new, problems = dn.render(text, FAKE)
    assert new == text and "put a string after" in problems[0]


def test_the_script_rewrites_a_page_and_its_check_fails_on_a_difference(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "demo.json").write_text(json.dumps(FAKE["demo"]))
    page = tmp_path / "page.md"
    page.write_text("score 0.000<!--demo:x-->\n")
    folder = ["--results", str(results)]
    assert dn.main(["--check", *folder, str(page)]) == 1
    assert "shows '0.000', the file holds '0.767'" in capsys.readouterr().out
    assert page.read_text() == "score 0.000<!--demo:x-->\n"
    assert dn.main([*folder, str(page)]) == 0
    assert page.read_text() == "score 0.767<!--demo:x-->\n"
    assert dn.main(["--check", *folder, str(page)]) == 0
    assert dn.main(["--check", str(page)]) == 1  # by default the quotes are read from docs/results/


# ---- the pages in this repository -------------------------------------------------------------------------------

def _quotes_and_results(page: Path):
    text = page.read_text()
    results, missing = dn.load_results(q.file for q in dn.find_quotes(text))
    return text, dn.find_quotes(text, results), results, missing


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_quoted_number_is_the_one_its_results_file_holds(page):
    text, _, results, missing = _quotes_and_results(page)
    assert missing == [], f"{_page_id(page)} quotes results files that do not exist: {missing}"
    problems = dn.check(text, results)
    assert problems == [], (f"{_page_id(page)}: run `python benchmarks/docs_numbers.py` (or fix the quote):\n"
                            + "\n".join(problems))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_quoted_strings_can_be_rewritten_when_their_value_changes(page):
    """Where a string starts must be found without knowing its value: after ( | * or in a code span."""
    _, quotes, results, _ = _quotes_and_results(page)
    text = page.read_text()
    for quote in quotes:
        value = dn.resolve(results[quote.file], quote.key)
        if isinstance(value, str):
            line_start = text.rfind("\n", 0, quote.start) + 1
            comment = text.index("<!--", quote.end)
            start, _ = dn.shown_span(text[line_start:comment], "another value")
            assert line_start + start == quote.start, (
                f"{_page_id(page)} line {quote.line}: {quote.label} {quote.shown!r} is not delimited")


def test_every_results_file_quoted_names_its_machine_date_and_command():
    files = {q.file for page in PAGES for q in dn.find_quotes(page.read_text())}
    assert "demo" in files, "the docs quote the demo's results"
    for name in files:
        data = json.loads((dn.RESULTS / f"{name}.json").read_text())
        assert isinstance(data.get("machine"), str) and data["machine"].strip(), f"{name}.json: no machine"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(data.get("date", ""))), f"{name}.json: no YYYY-MM-DD date"
        assert isinstance(data.get("command"), str) and data["command"].strip(), f"{name}.json: no command"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_time_is_quoted_beside_its_machine_and_date(page):
    """A page that quotes a duration also quotes that file's machine and date; no duration is typed in."""
    text = page.read_text()
    quotes = dn.find_quotes(text)
    keys = {(q.file, q.key) for q in quotes}
    for quote in quotes:
        if "seconds" in quote.key:
            assert {(quote.file, "machine"), (quote.file, "date")} <= keys, (
                f"{_page_id(page)} quotes {quote.label} without {quote.file}'s machine and date")
    typed = [m.group(0) for m in DURATION.finditer(re.sub(r"```.*?```", "", text, flags=re.DOTALL))
             if not m.group(2)]
    assert typed == [], f"{_page_id(page)} states durations that quote no results file: {typed}"


def test_the_readme_is_a_front_door_of_at_most_150_lines():
    assert len(README.read_text().splitlines()) <= 150


def test_the_readme_test_command_is_the_one_ci_runs_and_the_quick_start_is_complete():
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for line in ("pip install -r requirements.txt && python -m pytest",
                 "pip install -r requirements.txt && python -m alzmri demo",
                 "python -m venv .venv && . .venv/bin/activate", "jupyter lab notebooks/"):
        assert line in readme, line
    assert "\npip install -r requirements.txt && python -m pytest\n" in ci


def test_the_readme_colab_badges_open_every_notebook_from_the_project_repository():
    repo = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    path = repo.removeprefix("https://github.com/")
    badges = set(re.findall(r"colab\.research\.google\.com/github/([^)\s]+)", README.read_text()))
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert badges == {f"{path}/blob/main/notebooks/{name}" for name in notebooks}


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    headings = re.findall(r"^#+\s+(.+)$", re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", ALL_MARKDOWN, ids=_page_id)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path) if path else page
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
            broken.append(target)
    assert broken == [], f"{_page_id(page)} links to files or headings that do not exist: {broken}"


def test_the_readme_links_every_docs_page_and_the_benchmarks():
    readme = README.read_text()
    for target in ("docs/data.md", "docs/results.md", "docs/training.md", "docs/evaluation.md",
                   "docs/reliability.md", "docs/configuration.md", "benchmarks/README.md", "DATASET_CARD.md"):
        assert f"]({target})" in readme, target


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_no_history_in_the_docs(page):
    found = [m.group(0).strip() for m in HISTORY.finditer(_prose(page.read_text()))]
    assert found == [], f"{_page_id(page)} tells history ({found}): it belongs in CHANGELOG.md"


@pytest.mark.parametrize("page", ALL_MARKDOWN, ids=_page_id)
def test_the_number_of_tests_is_not_written_down(page):
    assert TEST_COUNT.findall(page.read_text()) == []


def test_the_presets_table_is_the_config():
    from alzmri.config import PRESETS

    lines = [line for line in (ROOT / "docs" / "configuration.md").read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        if cells[0] in PRESETS:
            rows[cells[0]] = dict(zip(header, cells))
    assert set(rows) == set(PRESETS), "every preset has a row, and only presets"
    fields = [h.strip("`") for h in header if h.startswith("`")]
    assert "backbone" in fields and "image_size" in fields
    for name, row in rows.items():
        for field in fields:
            assert row[f"`{field}`"] == str(getattr(PRESETS[name], field)), f"{name}.{field}"
