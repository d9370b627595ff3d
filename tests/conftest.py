"""Shared fixtures: small synthetic datasets, generated once per test session, and a private cache."""

from __future__ import annotations

import os
import shutil
import warnings

import pytest

from alzmri.data import synthetic
from alzmri.config import get_config


#: Fixtures that train or generate more than a few seconds' worth: a test that uses one (even through another
#: fixture) is ``slow``, and so is every notebook and every test marked ``slow`` itself (it trains, builds
#: ResNet152V2 or starts processes); ``python -m pytest -m "not slow"`` leaves them out.
SLOW_FIXTURES = {"smoke_run", "smoke_evaluation", "medium_root", "person_run"}


def pytest_collection_modifyitems(items):
    """Mark ``slow`` the tests that need a slow fixture, and the notebooks (they train, under nbval)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


def shared_folder(tmp_path_factory, name: str):
    """``name`` in a folder every pytest-xdist worker of this session sees (their common temporary folder), so that
    what one worker builds there the other reuses instead of building it again; without xdist, this process's own
    temporary folder."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


def trained_once(tmp_path_factory, config):
    """The run of ``config`` under this process's ``$ALZMRI_RUNS``, trained by the first worker that needs it and
    copied by the others (a run folder is self-contained, and the synthetic set it learnt from is generated alike in
    every worker's cache); the copy goes through ``get_or_train``, which checks its settings and data."""
    from alzmri.files import file_lock
    from alzmri.models.runs import run_folder
    from alzmri.models.training import get_or_train

    mine = run_folder(config, None)
    shared = shared_folder(tmp_path_factory, "runs") / mine.name
    with file_lock(f"{shared}.lock"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if shared.exists() and not mine.exists():  # (a notebook may have trained it here already)
            shutil.copytree(shared, mine)
        run = get_or_train(config, progress=False)
        if not shared.exists():
            shutil.copytree(run, shared)
        return run


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Keep generated data, converted images and descriptors out of the user's real cache."""
    cache = tmp_path_factory.mktemp("alzmri_cache")
    old = os.environ.get("ALZMRI_CACHE")
    os.environ["ALZMRI_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("ALZMRI_CACHE", None)
    else:
        os.environ["ALZMRI_CACHE"] = old


@pytest.fixture(scope="session")
def small_root(tmp_path_factory):
    """A small V2-layout synthetic set with equal classes (fast; enough for splits and pipelines)."""
    return synthetic.generate_dataset(tmp_path_factory.mktemp("syn") / "small", n_per_class=30, size=64, seed=3,
                                      balance="equal", copies=2.0, progress=False, slices=8)


@pytest.fixture(scope="session")
def medium_root(tmp_path_factory):
    """A demo-like synthetic set (real imbalance, subjects of 10 slices) large enough to measure leakage, generated
    once for all workers (concurrent generations of one set wait for each other)."""
    return synthetic.generate_dataset(shared_folder(tmp_path_factory, "medium"), n_per_class=150, size=96, seed=11,
                                      slices=10, progress=False)


@pytest.fixture(scope="session")
def medium_index(medium_root, private_cache):
    from alzmri.data.datasets import index_dataset

    return index_dataset(medium_root, cache_dir=private_cache, progress=False)


def _split_by_subject(index, profile: str, cache):
    """``index`` annotated (copies, subjects) and split by the subject protocol of the ``profile`` preset."""
    from alzmri.leakage.prepared import PreparedData, annotate
    from alzmri.leakage.protocols import split_frame

    config = get_config(profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame, features, recovery = annotate(index, config, cache, progress=False)
        return PreparedData(index, split_frame(frame, "subject", config), "subject", features, recovery)


@pytest.fixture(scope="session")
def small_data(small_root, private_cache):
    """The small synthetic set annotated and split by subject (the smoke preset's protocol)."""
    from alzmri.data.datasets import index_dataset

    return _split_by_subject(index_dataset(small_root, cache_dir=private_cache, progress=False), "smoke", private_cache)


@pytest.fixture(scope="session")
def medium_data(medium_index, private_cache):
    """The medium set annotated (copies, subjects) and split by the default subject protocol."""
    return _split_by_subject(medium_index, "demo", private_cache)


@pytest.fixture(scope="session")
def medium_descriptors(medium_data):
    return medium_data.features.copy


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, private_cache):
    """One run of the smoke preset (:func:`trained_once`), shared by the tests that need a model and by the
    notebooks: it is saved under the session's ``$ALZMRI_RUNS`` with the default name, where their
    ``get_or_train(config)`` finds it finished."""
    return trained_once(tmp_path_factory, get_config("smoke"))


@pytest.fixture(scope="session")
def person_run(tmp_path_factory, private_cache):
    """One run of the model of the person on the smoke preset's data (stacks of its 4 slices, 2 epochs), saved under
    the session's ``$ALZMRI_RUNS`` (:func:`trained_once`), shared by the tests of person runs."""
    return trained_once(tmp_path_factory, get_config("smoke", model="person", person_slices=4, person_epochs=2))


@pytest.fixture(scope="session")
def smoke_evaluation(smoke_run):
    """The shared smoke run evaluated once, with what it left on disk right then (other tests evaluate the
    same run again later): the evaluation, the saved ``test`` metrics, and the model card after it."""
    import json
    from types import SimpleNamespace

    from alzmri.models.runs import CARD_FILE
    from alzmri.evaluation.evaluate import evaluate_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate_run(smoke_run, n_boot=50, progress=False)
    return SimpleNamespace(evaluation=evaluation, saved=json.loads((smoke_run / "metrics.json").read_text())["test"],
                           card_after=(smoke_run / CARD_FILE).read_text())
