"""``alzmri serve`` against hostile input: strip images, EPS, slow bodies, other hosts and origins, a run changed
under it, keys and addresses no one could use, a torn input check."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import warnings

import httpx
import pytest
from fastapi.testclient import TestClient

from alzmri.cli import main
from alzmri.data.pipeline import REDUCE_TO
from alzmri.errors import RunError, SettingsError
from alzmri.serve import answers
from alzmri.serve.app import create_app
from alzmri.serve.uploads import Limits
from helpers import png

BASE = "http://127.0.0.1:8000"
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"


@pytest.fixture(scope="module")
def app(smoke_run):
    """A server for 127.0.0.1 whose bodies must arrive at 200 bytes/s after half a second."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        served = create_app(smoke_run, hosts=["127.0.0.1"], limits=Limits(min_body_rate=200, body_grace_s=0.5))
    yield served
    served.state.batcher.stop()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, base_url=BASE)


def upload(name: str, body: bytes, content_type: str = "image/png") -> list:
    return [("files", (name, body, content_type))]


@pytest.mark.parametrize("width, height", [(200_000, 1), (1, 5000), (900, 100)])
def test_a_strip_image_is_refused_before_it_is_decoded(client, monkeypatch, width, height):
    from alzmri.serve import app as app_module

    monkeypatch.setattr(app_module, "model_inputs", lambda *a: pytest.fail("a strip reached the resize"))
    response = client.post("/predict", files=upload("strip.png", png(width, height)))
    assert response.status_code == 413 and response.json()["file"] == "strip.png"
    assert f"{width}x{height} pixels: a slice is about square" in response.json()["error"]


def test_the_command_line_refuses_a_strip_in_one_line(smoke_run, tmp_path, capsys):
    (tmp_path / "strip.png").write_bytes(png(200_000, 1))
    assert main(["predict", str(smoke_run), str(tmp_path / "strip.png")]) == 1
    error = capsys.readouterr().err
    assert "strip.png is too large to decode safely (200000x1 pixels" in error


def test_an_eps_upload_never_reaches_ghostscript_or_the_disk(client, monkeypatch, tmp_path, capsys, smoke_run):
    from PIL import EpsImagePlugin

    touched = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: touched.append("eps"))
    with monkeypatch.context() as only_here:
        only_here.setattr(subprocess, "Popen", lambda *a, **k: touched.append("subprocess"))
        only_here.setattr(tempfile, "mkstemp", lambda *a, **k: touched.append("mkstemp"))
        response = client.post("/predict", files=upload("slice.jpg", EPS, "image/jpeg"))
    assert response.status_code == 415 and response.json()["file"] == "slice.jpg"
    assert "not an image of an accepted format" in response.json()["error"] and "NIfTI" in response.json()["error"]
    (tmp_path / "slice.jpg").write_bytes(EPS)
    assert main(["predict", str(smoke_run), str(tmp_path / "slice.jpg")]) == 1
    assert "slice.jpg is not an image of an accepted format" in capsys.readouterr().err
    assert touched == []


def test_a_gradcam_slice_waits_shrunk(client, monkeypatch):
    kept = []
    monkeypatch.setattr(answers, "gradcam_png", lambda served, name, slice_rgb, *a: kept.append(slice_rgb.shape) or b"")
    assert client.post("/gradcam", files=upload("big.png", png(3000, 3000))).status_code == 200
    assert max(kept[0]) <= REDUCE_TO


def _multipart(name: str, body: bytes) -> tuple[bytes, bytes, str]:
    """A multipart body's head and tail around one file's bytes, and its content type."""
    head = (b'--b\r\nContent-Disposition: form-data; name="files"; filename="' + name.encode() +
            b'"\r\nContent-Type: image/jpeg\r\n\r\n')
    return head, b"\r\n--b--\r\n", "multipart/form-data; boundary=b"


async def _trickle(client: httpx.AsyncClient, body: bytes, chunk: int, pause: float, done: list, name: str):
    head, tail, kind = _multipart(name, body)

    async def stream():
        yield head
        for start in range(0, len(body), chunk):
            await asyncio.sleep(pause)
            yield body[start:start + chunk]
        yield tail

    response = await client.post("/predict", content=stream(), headers={"content-type": kind}, timeout=60)
    done.append(name)
    return response


def test_slow_bodies_hold_no_decoding_slot_and_a_trickle_is_cut(app, slice_files):
    body = slice_files[0].read_bytes()

    async def scenario():
        done: list[str] = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            slow = [_trickle(client, body, max(1, len(body) // 12), 0.1, done, f"slow{i}") for i in range(5)]
            trickles = [_trickle(client, body, 1, 0.3, done, f"trickle{i}") for i in range(5)]
            tasks = [asyncio.ensure_future(t) for t in slow + trickles]
            await asyncio.sleep(0.2)  # every slow client is sending
            normal = await client.post("/predict", files=upload("normal.jpg", body, "image/jpeg"))
            done.append("normal")
            return normal, await asyncio.gather(*tasks), done

    normal, others, done = asyncio.run(scenario())
    assert normal.status_code == 200 and done[0] == "normal"  # answered while five bodies were still arriving
    assert [r.status_code for r in others[:5]] == [200] * 5  # slow but above the rate: served
    assert [r.status_code for r in others[5:]] == [408] * 5  # one byte now and then: cut off
    assert "too slowly" in others[5].json()["error"] and others[5].headers["connection"] == "close"


def test_other_hosts_and_cross_origin_requests_are_refused(client):
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"host": "rebound.example:8000"}).status_code == 400
    refused = client.post("/predict", files=upload("a.png", png(8, 8)), headers={"origin": "http://evil.example"})
    assert refused.status_code == 403 and "cross-origin" in refused.json()["error"]
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 200  # no CDN page


def test_the_server_answers_with_the_run_it_read_at_start(smoke_run, tmp_path, slice_files):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(create_app(run)) as c:
            before = c.get("/model").json()
            run.rename(tmp_path / "moved")  # the folder moved away, and another run put in its place
            run.mkdir()
            (run / "metrics.json").write_text('{"test": {"accuracy": 0.99}}')
            answer = c.post("/predict", files=upload(slice_files[0].name, slice_files[0].read_bytes())).json()
            assert isinstance(answer["predictions"][0]["in_distribution"], bool)
            assert c.get("/model").json() == before and "read once" in before["loaded"]


def test_an_api_key_no_client_could_send_is_refused_before_loading(smoke_run, monkeypatch, capsys):
    monkeypatch.setattr(answers, "load_served", lambda *a: pytest.fail("loaded the run"))
    for key in ("ключ-é", "tab\there", " spaced"):
        with pytest.raises(SettingsError, match="printable ASCII"):
            create_app(smoke_run, api_key=key)
    assert main(["serve", str(smoke_run), "--api-key", "ключ-é"]) == 2
    assert "printable ASCII" in capsys.readouterr().err


def test_a_bad_port_or_a_port_in_use_is_one_line_before_loading(smoke_run, monkeypatch, capsys):
    monkeypatch.setattr(answers, "load_served", lambda *a: pytest.fail("loaded the run"))
    for port in ("99999", "-1"):
        assert main(["serve", str(smoke_run), "--port", port]) == 2
        error = capsys.readouterr().err.strip()
        assert "--port must be between 1 and 65535" in error and "\n" not in error
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", str(smoke_run), "--port", str(taken.getsockname()[1])]) == 2
    assert "in use" in capsys.readouterr().err


def test_a_torn_input_check_is_one_line(smoke_run, tmp_path, slice_files, capsys):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    check = run / "input_check.npz"
    check.write_bytes(check.read_bytes()[:500])
    with pytest.raises(RunError, match="is not an input check"):
        create_app(run)
    assert main(["predict", str(run), str(slice_files[0])]) == 2
    error = capsys.readouterr().err.strip()
    assert "input_check.npz is not an input check" in error and "\n" not in error
