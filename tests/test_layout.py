"""The package's layout holds: data flows one way (data → leakage → models → explain → evaluation → reporting,
with the CLI, the demo and the notebook helpers on top) and no module imports one that imports it back; no
function is over 60 lines, and no import inside a function repeats one at the top of its file.

Read from the source with :mod:`ast` (nothing is imported), so a violation names the file and the line.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "alzmri"

#: Layers, lowest first; a module may import its own layer and those below it.
LAYERS = {
    "leaf": 0,  # top-level modules every other module may use: alzmri, config, errors, files, metrics, ...
    "data": 1,
    "leakage": 2,
    "models": 3,
    "explain": 4,
    "evaluation": 5,
    "reporting": 6,
    "top": 7,  # cli, demo, notebook, __main__: they only call the package
}
TOP = {"alzmri.cli", "alzmri.demo", "alzmri.notebook", "alzmri.__main__", "alzmri.serve"}

#: Imports allowed against the flow, ``(importer, imported): reason``. None is needed today: the four that ran
#: against it (training and evaluate writing the model card, training scoring its validation split through
#: evaluate, faithfulness using the metrics) went when the card moved to ``models.cards``, ``predict_frame`` to
#: the classifier and the metric arithmetic became the top-level leaf ``metrics``. Add one only with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    if ".".join(parts[:2]) in TOP:  # the top modules and everything in the top subpackages (cli, serve)
        return LAYERS["top"]
    if len(parts) > 1 and parts[1] in LAYERS and (PACKAGE / parts[1]).is_dir():
        return LAYERS[parts[1]]
    return LAYERS["leaf"]


def imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The alzmri modules an import statement names (``from alzmri.x import y`` names ``alzmri.x.y`` when it
    is a module, else ``alzmri.x``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "alzmri"]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join(anchor + ([base] if base else []))
    if base.split(".")[0] != "alzmri":
        return []
    names = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        sub = PACKAGE.parent.joinpath(*candidate.split("."))
        names.append(candidate if sub.with_suffix(".py").exists() or sub.is_dir() else base)
    return names


def import_graph(module_level_only: bool) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}`` over the package."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        nodes = tree.body if module_level_only else list(ast.walk(tree))
        if module_level_only:  # imports under module-level if/try blocks count as module level
            nodes = [n for top in tree.body for n in ast.walk(top)
                     if not any(isinstance(top, t) for t in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        edges = {}
        for node in nodes:
            for target in imported(node, module, path.name == "__init__.py"):
                if target != module:
                    edges.setdefault(target, getattr(node, "lineno", 0))
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every import cycle found by a depth-first search (each reported once, from where it was entered)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, {}):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for start in graph:
        if start not in state:
            visit(start, [start])
    return found


def backward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """Imports (module level or inside functions) of a higher layer by a lower one, not in EXCEPTIONS."""
    return [f"{src} imports {dst} (line {line})" for src, edges in graph.items() for dst, line in edges.items()
            if layer(dst) > layer(src) and (src, dst) not in EXCEPTIONS and not dst == "alzmri"]


#: What ``reporting/`` never imports: it draws and prints what it is given, so the evaluations, Grad-CAM maps,
#: comparisons and cross-validations it shows are computed by its callers (the CLI, the demo, the notebooks), and it
#: never loads or calls a model. Types named for annotations only, under ``if TYPE_CHECKING:``, do not count.
REPORTING_NEVER_IMPORTS = ("alzmri.evaluation", "alzmri.explain", "alzmri.models.training", "alzmri.models.classifier",
                           "tensorflow", "keras", "tf_keras")


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes inside ``if TYPE_CHECKING:`` bodies (imports for annotations, never run)."""
    guarded = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            guarded |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    return guarded


def forbidden_imports(source: str, filename: str, forbidden: tuple[str, ...]) -> list[str]:
    """``file:line imports name`` for each import (module level or inside a function) of a module in ``forbidden``
    or below one, outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(source, filename)
    guarded = _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        hits = sorted({f for f in forbidden for name in names if name == f or name.startswith(f + ".")})
        found += [(node.lineno, f"{filename}:{node.lineno} imports {hit}") for hit in hits]
    return [message for _, message in sorted(found)]


def test_reporting_draws_and_prints_what_it_is_given():
    """reporting/ imports nothing that computes (evaluation, explain, training, the classifier) and no TensorFlow or
    Keras: a figure or report is given its maps and results, it never runs an evaluation or calls a model."""
    found = []
    for path in sorted((PACKAGE / "reporting").rglob("*.py")):
        found += forbidden_imports(path.read_text(), str(path.relative_to(PACKAGE.parent)), REPORTING_NEVER_IMPORTS)
    assert found == [], "reporting/ must be given what it shows, not compute it:\n" + "\n".join(found)


def test_the_reporting_check_finds_imports_in_functions_and_skips_annotations():
    source = ("from typing import TYPE_CHECKING\nfrom alzmri.config import CLASS_NAMES\n"
              "if TYPE_CHECKING:\n    from alzmri.evaluation.evaluate import Evaluation\n"
              "def draw():\n    from alzmri.explain.gradcam import gradcam\n    import tensorflow as tf\n"
              "from alzmri import evaluation\nfrom alzmri.models import classifier\nimport keras_cv\n")
    assert forbidden_imports(source, "x.py", REPORTING_NEVER_IMPORTS) == [
        "x.py:6 imports alzmri.explain", "x.py:7 imports tensorflow", "x.py:8 imports alzmri.evaluation",
        "x.py:9 imports alzmri.models.classifier"]


def test_no_module_level_import_cycle():
    assert cycles(import_graph(module_level_only=True)) == []


def test_no_import_cycle_even_inside_functions():
    """A lazy import inside a function is no excuse: no module imports one that imports it back."""
    assert cycles(import_graph(module_level_only=False)) == []


def test_no_lower_layer_imports_a_higher_one():
    assert backward_imports(import_graph(module_level_only=False)) == []


def test_exceptions_are_still_needed():
    graph = import_graph(module_level_only=False)
    stale = [pair for pair in EXCEPTIONS if pair[1] not in graph.get(pair[0], {})]
    assert stale == [], f"remove these from EXCEPTIONS: {stale}"


def test_every_subpackage_says_what_it_may_import():
    for folder in PACKAGE.iterdir():
        if folder.is_dir() and (folder / "__init__.py").exists():
            doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
            assert "May import" in doc, folder


def test_the_map_of_the_code_names_every_module():
    """docs/configuration.md's map names each module under its folder (outside the parentheses that describe the
    others), so a new module is found there too."""
    text = (PACKAGE.parent / "docs" / "configuration.md").read_text()
    tree = text[text.index("```\nalzmri/\n"):text.index("notebooks/ ")]
    entries, folder = {}, ""
    for line in tree.splitlines()[2:]:
        head = line[2:].split()[0] if line.startswith("  ") and not line.startswith("   ") else None
        folder = head.rstrip("/") if head and head.endswith("/") else (folder if head is None else "")
        entries.setdefault(folder, []).append(line)
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        parts = path.relative_to(PACKAGE).parts
        where = re.sub(r"\([^()]*\)", "", " ".join(entries.get(parts[0] if len(parts) > 1 else "", [])))
        name = path.stem if len(parts) > 1 else path.name  # in a folder by its stem, at the top as file.py
        if not re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", where):
            missing.append("/".join(parts))
    assert missing == [], f"docs/configuration.md's map of the code does not name {missing}"


#: Test files named after a concern that crosses modules rather than after one module.
TEST_TOPICS = {"cli", "docs", "layout", "notebooks", "safety"}


def test_every_test_file_is_named_after_the_module_it_tests():
    """``tests/<folder>/test_<name>.py`` tests ``alzmri/<folder>/<name>.py`` (or the file ``<name>.*`` there, e.g.
    ``serve/page.html``), so a module's tests are found by a path rule; only the cross-cutting topics differ."""
    tests = PACKAGE.parent / "tests"
    strays = []
    for path in sorted(tests.rglob("test_*.py")):
        folder = PACKAGE.joinpath(*path.relative_to(tests).parent.parts)
        name = path.stem.removeprefix("test_")
        if name not in TEST_TOPICS and not any(folder.glob(f"{name}.*")):
            strays.append(str(path.relative_to(tests)))
    assert strays == [], f"name these after the module they test (or add a topic to TEST_TOPICS): {strays}"


#: The longest a function may be, in lines from its ``def`` to its last line (docstring included).
MAX_FUNCTION_LINES = 60


def _functions(tree: ast.AST):
    """Every function and method of a module, nested ones included."""
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_is_over_sixty_lines():
    """A function longer than a screen is several steps in one: split it into helpers that read as one story."""
    long = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in sorted(PACKAGE.rglob("*.py")) for node in _functions(ast.parse(path.read_text(), str(path)))
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module or package, found on disk without importing anything."""
    top, *rest = dotted.split(".")
    if top == "alzmri":  # this checkout's package, whichever one an installed copy would point to
        folders = [PACKAGE]
    else:
        try:
            spec = importlib.util.find_spec(top)  # a top-level name: located by the finders, not run
        except (ImportError, ValueError):
            return False
        if spec is None or not rest:
            return spec is not None
        folders = [Path(f) for f in (spec.submodule_search_locations or [])]
    if not rest:
        return True
    for part in rest[:-1]:
        folders = [folder / part for folder in folders if (folder / part).is_dir()]
    return any((folder / rest[-1]).is_dir() or (folder / f"{rest[-1]}{suffix}").is_file()
               for folder in folders for suffix in importlib.machinery.all_suffixes())


def _imported_modules(node: ast.AST, module: str, is_package: bool) -> set[str]:
    """The modules an import statement loads: ``import a.b`` loads ``a.b``; ``from a import b`` loads ``a.b``
    where that is a module, else ``a`` (relative imports resolved against ``module``)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        base = ".".join(parts[: len(parts) - node.level + (1 if is_package else 0)] + ([base] if base else []))
    return {f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base for alias in node.names}


def _module_level_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """The modules a file imports outside its functions and classes (under module-level if/try too, but not
    under ``if TYPE_CHECKING:``, which never runs)."""
    found = set()

    def visit(nodes) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(_imported_modules(node, module, is_package))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit([child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)])

    visit(tree.body)
    return found


def repeated_imports(path: Path) -> list[str]:
    """Imports inside a function of ``path`` of a module the file already imports at module level, each named
    with its file, function and line (a lazy import of a module the file does not import at the top is fine)."""
    module, is_package = module_name(path), path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    top = _module_level_imports(tree, module, is_package)
    found = {}
    for function in _functions(tree):  # ast.walk goes outside in: an inner function's name overwrites its outer's
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                again = sorted(_imported_modules(node, module, is_package) & top)
                if again:
                    found[node.lineno] = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} in {function.name}: {again}"
    return [found[line] for line in sorted(found)]


def test_no_import_inside_a_function_repeats_one_at_the_top_of_its_file():
    """A lazy import is for a module the file does not otherwise load (TensorFlow, for start-up time): one that
    repeats a module-level import of the same module only hides where a name comes from."""
    repeated = [line for path in sorted(PACKAGE.rglob("*.py")) for line in repeated_imports(path)]
    assert repeated == [], f"imports inside functions that repeat a module-level import: {repeated}"
