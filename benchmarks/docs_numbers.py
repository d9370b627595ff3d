"""Every measured number in the docs, written from the results files that the code wrote.

A value in README.md, DATASET_CARD.md, docs/**/*.md or benchmarks/README.md is *quoted* by an HTML comment right after it
(invisible on GitHub), naming a results file ``docs/results/<name>.json`` and a dot-separated key path in it
(dict keys, which may hold spaces, and list indices), optionally with a format after a pipe:

    0.767<!--demo:test.balanced_accuracy-->              decimals as shown (here 3)
    [0.550<!--demo:test.ci95.balanced_accuracy.0-->, 0.892<!--demo:test.ci95.balanced_accuracy.1-->]
    188<!--demo:wall_seconds|int--> s                    formats: .Nf, int (1,279), pctN (76.7 for 0.767)
    (AMD EPYC 7B13, 2 cores<!--demo:machine-->, 2026-12-01<!--demo:date-->)

What counts as the shown value before the comment: for a number, the number that ends there (``-``/``−``
sign, ``,`` thousands, decimals); for a string, the contents of a code span that ends there, a date
(YYYY-MM-DD), or else the text back to the nearest unmatched ``(`` or ``[``, ``|`` or ``*`` (so a string
that may change goes in parentheses, a table cell, bold or a code span). Without a format a number keeps the
decimals, thousands commas and minus sign it shows.

Usage:
    python benchmarks/docs_numbers.py            # rewrite every quoted value from the results files, in place
    python benchmarks/docs_numbers.py --check    # only report values that differ (exit status 1 if any)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"

QUOTE = re.compile(r"<!--([A-Za-z0-9_\-]+):([^|>\n]+?)(?:\|([^\s>]+))?-->")
NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?$")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
FORMAT = re.compile(r"\.(\d+)f|int|pct(\d)")


@dataclass(frozen=True)
class Quote:
    """One quoted value: where it is, what it shows, and which file, key and format it quotes."""

    line: int  # 1-based
    start: int  # offset of the shown value in the text
    end: int  # offset where the shown value ends (the comment, or a code span's closing backtick)
    shown: str
    file: str
    key: str
    fmt: str | None

    @property
    def label(self) -> str:
        return f"{self.file}:{self.key}" + (f"|{self.fmt}" if self.fmt else "")


def shown_span(before: str, value=None) -> tuple[int, int]:
    """Where, in ``before`` (the line up to the comment), the shown value starts and ends; ``value``: the expected."""
    if isinstance(value, bool):
        value = str(value).lower()
    if before.endswith("`"):
        opening = before.rfind("`", 0, len(before) - 1)
        return (opening + 1, len(before) - 1) if opening >= 0 else (len(before), len(before))
    if isinstance(value, str) and before.endswith(value):
        return len(before) - len(value), len(before)
    if value is None or _is_number(value):
        number = NUMBER.search(before)
        if number:
            return number.start(), len(before)
    date = DATE.search(before)
    if date:
        return date.start(), len(before)
    depth, i = 0, len(before)
    while i > 0:
        ch = before[i - 1]
        if ch in "|*" or (ch in "([" and depth == 0):
            break
        depth += ch in ")]"
        depth -= ch in "([" and depth > 0
        i -= 1
    if i == 0:  # no delimiter: where a changed string started cannot be told
        return len(before), len(before)
    while i < len(before) and before[i] == " ":
        i += 1
    return i, len(before)


def find_quotes(text: str, results: dict | None = None) -> list[Quote]:
    """Every quote in ``text``; ``results`` (name → loaded file), when given, helps find where strings start."""
    quotes = []
    for match in QUOTE.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        before = text[line_start:match.start()]
        file, key, fmt = match.groups()
        try:
            expected = resolve((results or {})[file], key)
        except (KeyError, IndexError, TypeError, ValueError):
            expected = None
        start, end = (line_start + offset for offset in shown_span(before, expected))
        quotes.append(Quote(text.count("\n", 0, match.start()) + 1, start, end, text[start:end], file, key, fmt))
    return quotes


def resolve(data, key: str):
    """The value at a dot-separated key path (dict keys, list indices); KeyError naming the missing part."""
    value = data
    for i, part in enumerate(key.split(".")):
        if isinstance(value, list):
            if not re.fullmatch(r"-?\d+", part) or not -len(value) <= int(part) < len(value):
                raise KeyError(f"{'.'.join(key.split('.')[:i]) or 'the top'} is a list of {len(value)}: no item {part}")
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            where = ".".join(key.split(".")[:i]) or "the top"
            choices = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise KeyError(f"no {part!r} under {where} (there: {choices})")
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decimals(shown: str) -> int:
    return len(shown.split(".", 1)[1]) if "." in shown else 0


def format_value(value, fmt: str | None = None, shown: str = "") -> str:
    """``value`` as the docs show it: by ``fmt`` (``.Nf``, ``int``, ``pctN``), else in the style of ``shown``."""
    if fmt is not None:
        match = FORMAT.fullmatch(fmt)
        if not match:
            raise ValueError(f"unknown format {fmt!r} (use .Nf, int or pctN)")
        if not _is_number(value):
            raise ValueError(f"format {fmt!r} needs a number, the value is {value!r}")
        if fmt == "int":
            return f"{round(value):,}"
        if match.group(2):
            return f"{100 * value:.{match.group(2)}f}"
        return f"{value:.{match.group(1)}f}"
    if value is None or isinstance(value, (dict, list)):
        raise ValueError(f"{type(value).__name__} is not a value the docs can show: quote one item of it")
    if isinstance(value, bool):
        return str(value).lower()
    if not _is_number(value):
        return str(value)
    text = f"{value:{',' if ',' in shown else ''}.{_decimals(shown)}f}"
    return text.replace("-", "−") if shown.startswith("−") else text


def _as_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("−", "-"))
    except ValueError:
        return None


def matches(shown: str, expected: str, last_digit: int = 1) -> bool:
    """Whether ``shown`` is ``expected``, numbers within ``last_digit`` units of the last digit shown."""
    if shown == expected:
        return True
    a, b = _as_number(shown), _as_number(expected)
    if a is None or b is None or _decimals(shown) != _decimals(expected):
        return False
    return abs(a - b) <= last_digit * 10 ** -_decimals(shown) + 1e-9


def load_results(names, folder: Path = RESULTS) -> tuple[dict, list[str]]:
    """The results files named, loaded; and a problem line for each that is missing or unreadable."""
    loaded, problems = {}, []
    for name in sorted(set(names)):
        path = folder / f"{name}.json"
        try:
            loaded[name] = json.loads(path.read_text())
        except FileNotFoundError:
            problems.append(f"no results file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        except json.JSONDecodeError as error:
            problems.append(f"{path} is not JSON: {error}")
    return loaded, problems


def expected_text(quote: Quote, results: dict) -> str:
    """What ``quote`` should show; KeyError/ValueError saying why it cannot be worked out."""
    if quote.file not in results:
        raise KeyError(f"no results file {quote.file}.json")
    return format_value(resolve(results[quote.file], quote.key), quote.fmt, quote.shown)


def _resolved(text: str, results: dict, problems: list[str]):
    """Each quote of ``text`` with what it should show; a quote that cannot be worked out goes to ``problems``."""
    for quote in find_quotes(text, results):
        try:
            yield quote, expected_text(quote, results)
        except (KeyError, ValueError) as error:
            problems.append(f"line {quote.line}: {quote.label}: {error.args[0]}")


def check(text: str, results: dict, last_digit: int = 1) -> list[str]:
    """One line per quote in ``text`` that does not resolve, or shows another value than its file holds."""
    problems = []
    for quote, expected in _resolved(text, results, problems):
        if not matches(quote.shown, expected, last_digit):
            problems.append(f"line {quote.line}: {quote.label} shows {quote.shown!r}, the file holds {expected!r}")
    return problems


def render(text: str, results: dict) -> tuple[str, list[str]]:
    """``text`` with every quoted value written from ``results``; and the quotes that could not be resolved."""
    pieces, problems, last = [], [], 0
    for quote, expected in _resolved(text, results, problems):
        if not quote.shown and expected:
            problems.append(f"line {quote.line}: {quote.label}: no value before the quote where one can be found: "
                            "put a string after '(', '|' or '*', or in a code span")
            continue
        pieces += [text[last:quote.start], expected]
        last = quote.end
    return "".join(pieces) + text[last:], problems


def doc_files(root: Path = ROOT) -> list[Path]:
    """The pages that quote results: README.md, DATASET_CARD.md, docs/**/*.md and benchmarks/README.md."""
    pages = [root / "README.md", root / "DATASET_CARD.md", *sorted((root / "docs").rglob("*.md")),
             root / "benchmarks" / "README.md"]
    return [page for page in pages if page.exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report values that differ; change nothing")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the results files (default "
                                                                      "docs/results/)")
    parser.add_argument("files", nargs="*", type=Path, help="pages to process (default: README.md, "
                                                            "DATASET_CARD.md, docs/, benchmarks/README.md)")
    args = parser.parse_args(argv)
    failed = False
    for page in [path.resolve() for path in args.files] or doc_files():
        text = page.read_text()
        results, missing = load_results((q.file for q in find_quotes(text)), args.results)
        name = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
        for problem in missing:
            print(f"{name}: {problem}")
        for file, data in results.items():
            if isinstance(data, dict) and data.get("placeholder"):
                print(f"{name}: note: {file}.json is a placeholder: {data['placeholder']}")
        if args.check:
            problems = check(text, results)
        else:
            new, problems = render(text, results)
            if new != text:
                page.write_text(new)
                print(f"{name}: rewritten")
        for problem in problems:
            print(f"{name}: {problem}")
        failed |= bool(problems or missing)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
