"""Every route and every bad input of ``alzmri serve`` through FastAPI's test client on the smoke run, and the server
as a real process under concurrent load."""

from __future__ import annotations

import io
import json
import signal
import warnings
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from alzmri.config import CLASS_NAMES
from alzmri.models.provenance import DISCLAIMER, SYNTHETIC_WARNING
from alzmri.serve.app import create_app
from alzmri.serve.uploads import Limits, MAX_FILE_BYTES, MAX_FILES
from helpers import png


@pytest.fixture(scope="module")
def client(smoke_run, smoke_evaluation):
    """The server of the smoke run, once it is evaluated (a server reads the run's test numbers at start)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(create_app(smoke_run)) as c:
            yield c


@pytest.fixture(scope="module")
def tight(smoke_run):
    """A server with a queue of one request, a short time limit and small upload limits."""
    with TestClient(create_app(smoke_run, api_key="s3cret", queue_size=1, timeout_s=0.5,
                               limits=Limits(max_file_bytes=2**20, max_files=3, max_request_bytes=int(1.5 * 2**20),
                                             max_pixels=300 * 300))) as c:
        yield c


def files(paths) -> list:
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_health_names_the_run(client, smoke_run):
    health = client.get("/health").json()
    assert health == {"status": "ok", "run": smoke_run.name, "api_key_required": False, "loaded": health["loaded"]}


def test_model_says_what_the_run_is(client, smoke_run):
    model = client.get("/model").json()
    assert model["run"] == smoke_run.name and model["classes"] == list(CLASS_NAMES)
    assert model["image_size"] == 32 and "ResNet50V2" in model["backbone"]
    assert model["training_data"]["synthetic"] is True and model["protocol"] == "subject"
    assert SYNTHETIC_WARNING in model["warnings"] and model["note"] == DISCLAIMER
    assert "# Model card" in model["model_card"]
    assert set(model["test"]) >= {"evaluated"}


def test_model_reports_slice_test_metrics_with_intervals(client, smoke_evaluation):
    test = client.get("/model").json()["test"]
    assert test["evaluated"] is True
    slice_level = test["slice"]["balanced_accuracy"]
    assert slice_level["value"] == pytest.approx(smoke_evaluation.saved["balanced_accuracy"])
    low, high = slice_level["ci95"]
    assert low <= slice_level["value"] <= high


def test_predict_says_what_the_command_line_says(client, smoke_run, slice_files):
    from alzmri.evaluation.predict import predict_report
    from alzmri.models.runs import load_run

    answer = client.post("/predict", files=files(slice_files)).json()
    expected = predict_report(load_run(smoke_run), slice_files).table
    assert [p["file"] for p in answer["predictions"]] == [p.name for p in slice_files]
    for prediction, (_, row) in zip(answer["predictions"], expected.iterrows()):
        assert prediction["predicted"] == row["prediction"]
        assert prediction["probabilities"] == pytest.approx({c: row[c] for c in CLASS_NAMES}, abs=1e-4)
        assert prediction["in_distribution"] == row["in_distribution"]
    assert answer["warnings"][0] == SYNTHETIC_WARNING and answer["note"] == DISCLAIMER


def test_the_api_and_the_command_line_answer_in_one_shape(client, smoke_run, slice_files, capsys):
    """``POST /predict`` and ``alzmri predict --json`` give per-slice and per-subject rows with the same keys, and the
    OpenAPI page documents them."""
    from alzmri.cli import main
    from alzmri.evaluation.predict import SliceRow, SubjectRow

    served = client.post("/predict", files=files(slice_files)).json()
    assert main(["predict", str(smoke_run), *map(str, slice_files), "--per-subject", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(served["predictions"][0]) == set(SliceRow.__annotations__) - {"subject"}
    assert set(printed["predictions"][0]) == set(SliceRow.__annotations__)
    assert set(served["subject"]) == set(printed["subjects"][0]) == set(SubjectRow.__annotations__)
    assert served["voting"] == printed["voting"]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["SliceRow"]["properties"]) == set(SliceRow.__annotations__)


def test_the_slices_of_a_request_are_one_subject(client, slice_files):
    answer = client.post("/predict", files=files(slice_files)).json()
    proba = np.array([[p["probabilities"][c] for c in CLASS_NAMES] for p in answer["predictions"]])
    subject = answer["subject"]
    assert subject["slices"] == len(slice_files)
    assert [subject["probabilities"][c] for c in CLASS_NAMES] == pytest.approx(proba.mean(axis=0), abs=1e-5)
    assert subject["p_any_dementia"] == pytest.approx(1 - subject["probabilities"]["NonDemented"], abs=1e-5)
    assert subject["predicted"] == CLASS_NAMES[int(proba.mean(axis=0).argmax())]


def test_no_subject_for_one_slice_or_per_slice_only(client, slice_files):
    assert "subject" not in client.post("/predict", files=files(slice_files[:1])).json()
    answer = client.post("/predict?per_slice_only=true", files=files(slice_files)).json()
    assert "subject" not in answer and len(answer["predictions"]) == len(slice_files)


def test_gradcam_is_a_png_of_the_slice_with_its_overlay(client, slice_files):
    response = client.post("/gradcam", files=files(slice_files[:1]))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG" and min(image.size) > 200
    other = client.post("/gradcam?class=non_demented", files=files(slice_files[:1]))
    assert other.status_code == 200 and other.content != response.content


def test_the_page_and_the_api_description_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "not a medical device" in page.text and "X-API-Key" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: it works offline
    assert client.get("/openapi.json").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/model", "/predict", "/gradcam"} <= set(paths)


@pytest.mark.parametrize("name, body, content_type, status, cause", [
    ("empty.jpg", b"", "image/jpeg", 400, "empty"),
    ("notes.jpg", b"not an image at all", "image/jpeg", 415, "not an image"),
    ("notes.txt", b"hello", "text/plain", 415, "content type"),
    ("bomb.png", png(5000, 4000), "image/png", 413, "decompression bomb"),
])
def test_a_bad_upload_is_refused_naming_the_file(client, slice_files, name, body, content_type, status, cause):
    response = client.post("/predict", files=[*files(slice_files[:1]), ("files", (name, body, content_type))])
    assert response.status_code == status
    assert response.json()["file"] == name and cause in response.json()["error"]
    assert client.post("/predict", files=files(slice_files[:1])).status_code == 200  # still serving


def test_a_truncated_image_is_refused(client, slice_files):
    whole = slice_files[0].read_bytes()
    response = client.post("/predict", files=[("files", ("cut.jpg", whole[: len(whole) // 2], "image/jpeg"))])
    assert response.status_code == 422 and response.json()["file"] == "cut.jpg"


def test_a_file_over_20_mb_is_refused(client):
    response = client.post("/predict", files=[("files", ("huge.png", b"\0" * (MAX_FILE_BYTES + 1), "image/png"))])
    assert response.status_code == 413 and response.json()["file"] == "huge.png"


def test_more_than_64_files_are_refused(client, slice_files):
    body = slice_files[0].read_bytes()
    response = client.post("/predict", files=[("files", (f"s{i}.jpg", body, "image/jpeg")) for i in range(MAX_FILES + 1)])
    assert response.status_code == 413 and "64" in response.json()["error"]


def test_a_request_over_its_limit_is_refused(tight):
    two = [("files", (f"{i}.png", b"\0" * (2**20 - 10), "image/png")) for i in range(2)]
    response = tight.post("/predict", files=two, headers={"X-API-Key": "s3cret"})
    assert response.status_code == 413 and "request over" in response.json()["error"]


@pytest.mark.parametrize("kwargs, status", [
    ({"data": {"other": "field"}}, 415),
    ({"files": [("other", ("a.jpg", b"x", "image/jpeg"))]}, 400),
    ({"content": b"{}", "headers": {"content-type": "application/json"}}, 415),
    ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}}, 400),
])
def test_no_files_or_no_multipart_is_refused(client, kwargs, status):
    response = client.post("/predict", **kwargs)
    assert response.status_code == status and response.json()["error"]


def test_gradcam_takes_one_slice_and_a_known_class(client, slice_files):
    assert client.post("/gradcam", files=files(slice_files[:2])).status_code == 400
    response = client.post("/gradcam?class=Severe", files=files(slice_files[:1]))
    assert response.status_code == 400 and "NonDemented" in response.json()["error"]


def test_an_api_key_guards_the_api_not_health_page_or_description(tight, slice_files):
    for path in ("/health", "/", "/openapi.json"):
        assert tight.get(path).status_code == 200, path
    assert tight.get("/health").json()["api_key_required"] is True
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": "s3cret "}):
        refused = tight.get("/model", headers=headers)
        assert refused.status_code == 401 and refused.json() == {"error": "unauthorized", "file": None}
        assert tight.post("/predict", files=files(slice_files[:1]), headers=headers).status_code == 401
    assert tight.get("/model", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert tight.post("/predict", files=files(slice_files[:1]), headers={"X-API-Key": "s3cret"}).status_code == 200


def test_a_full_queue_answers_503_with_retry_after(tight, slice_files, hold_worker):
    batcher = tight.app.state.batcher
    release = hold_worker(batcher)
    batcher.submit_call(lambda: None)  # the one queue place taken
    response = tight.post("/predict", files=files(slice_files[:1]), headers={"X-API-Key": "s3cret"})
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    release.set()
    assert tight.post("/predict", files=files(slice_files[:1]), headers={"X-API-Key": "s3cret"}).status_code == 200


def test_a_request_past_its_time_limit_answers_504(tight, slice_files, hold_worker):
    release = hold_worker(tight.app.state.batcher)
    response = tight.post("/predict", files=files(slice_files[:1]), headers={"X-API-Key": "s3cret"})
    assert response.status_code == 504 and "Retry-After" in response.headers
    release.set()


def test_a_broken_run_fails_at_start_with_one_line(tmp_path, capsys):
    from alzmri.cli import main

    assert main(["serve", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("alzmri serve: error: No model at") and "\n" not in error


def test_missing_fastapi_says_which_extra_to_install(smoke_run, monkeypatch, capsys):
    import sys

    from alzmri.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve", str(smoke_run)]) == 2
    assert "pip install -e .[serve]" in capsys.readouterr().err


def test_undefined_test_numbers_are_null_not_a_server_error(smoke_run, tmp_path):
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    (run / "metrics.json").write_text(json.dumps({"test": {
        "images": 8, "accuracy": 0.5, "quadratic_kappa": float("nan"), "ci95": {"quadratic_kappa": [float("nan")] * 2},
        "subject_level": {"roc_auc_ovr": float("nan")}}}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(create_app(run)) as c:
            response = c.get("/model")
    assert response.status_code == 200
    test = response.json()["test"]
    assert test["slice"]["quadratic_kappa"] == {"value": None, "ci95": [None, None]}
    assert test["subject"]["roc_auc_ovr"]["value"] is None and test["slice"]["accuracy"]["value"] == 0.5


def test_an_upload_name_is_echoed_cut_short_and_never_read_as_maths(client, slice_files):
    body = slice_files[0].read_bytes()
    response = client.post("/gradcam", files=[("files", ("x$_$" + "a" * 500 + ".jpg", body, "image/jpeg"))])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    answer = client.post("/predict", files=[("files", ("b" * 500 + ".jpg", body, "image/jpeg"))]).json()
    assert answer["predictions"][0]["file"] == "b" * 200


def test_an_unexpected_failure_is_a_json_500_and_the_server_goes_on(smoke_run, slice_files, monkeypatch):
    from alzmri.serve import answers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(create_app(smoke_run), raise_server_exceptions=False) as c:
            monkeypatch.setattr(answers, "prediction_answer", lambda *a: 1 / 0)
            broken = c.post("/predict", files=files(slice_files[:1]))
            monkeypatch.undo()
            assert broken.status_code == 500 and broken.json()["error"].startswith("internal error (ZeroDivisionError)")
            assert c.post("/predict", files=files(slice_files[:1])).status_code == 200


def test_the_server_caps_its_memory_arenas_where_the_c_library_allows():
    import ctypes.util

    from alzmri.cli.serve import limit_malloc_arenas

    is_glibc = bool(ctypes.util.find_library("c")) and hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallopt")
    assert limit_malloc_arenas() is is_glibc


def test_a_2_5_d_run_is_not_served_single_slices(monkeypatch):
    from pathlib import Path
    from types import SimpleNamespace

    from alzmri.errors import SettingsError
    from alzmri.models import runs
    from alzmri.serve import answers

    stacked = SimpleNamespace(metadata={"config": {"neighbour_slices": True}}, path=Path("runs/stacked-run"))
    monkeypatch.setattr(runs, "load_run", lambda _: stacked)
    with pytest.raises(SettingsError, match="stacked-run was trained on 2.5-D input"):
        answers.load_served("runs/stacked-run")


# ``python -m alzmri serve`` as a real process: HTTP on a loopback port, concurrent requests, a clean stop.
CONCURRENT = 40


def test_serve_answers_over_http_under_concurrent_load_and_stops_cleanly(smoke_run, slice_files, serving):
    with serving(smoke_run) as (url, process):
        def predict(path) -> httpx.Response:
            return httpx.post(f"{url}/predict", files=[("files", (path.name, path.read_bytes(), "image/jpeg"))],
                              timeout=120)

        first = predict(slice_files[0])
        assert first.status_code == 200 and SYNTHETIC_WARNING in first.json()["warnings"]
        with ThreadPoolExecutor(CONCURRENT) as pool:
            answers = list(pool.map(predict, [slice_files[i % len(slice_files)] for i in range(CONCURRENT)]))
        assert [a.status_code for a in answers] == [200] * CONCURRENT
        assert all(a.json()["predictions"][0]["probabilities"] for a in answers)
        process.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down, the batcher stops
        assert process.wait(60) == 0
def test_a_person_run_is_not_served_single_slices(monkeypatch):
    from pathlib import Path
    from types import SimpleNamespace

    from alzmri.errors import SettingsError
    from alzmri.models import runs
    from alzmri.serve import answers

    person = SimpleNamespace(metadata={"config": {"model": "person"}}, path=Path("runs/whole-brains"))
    monkeypatch.setattr(runs, "load_run", lambda _: person)
    with pytest.raises(SettingsError, match="whole-brains is a model of the person.*predict whole-brains --per-subject"):
        answers.load_served("runs/whole-brains")
