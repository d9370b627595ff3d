import subprocess
import sys

from alzmri.cli import main


def test_module_help_runs():
    out = subprocess.run([sys.executable, "-m", "alzmri", "--help"], capture_output=True, text=True, check=True)
    text = " ".join(out.stdout.split())
    assert "synth" in text and "audit" in text and "not a medical device" in text


def test_synth_then_audit(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), "--n-per-class", "12", "--size", "64",
                 "--grid", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 10_000
    assert "SYNTHETIC" in capsys.readouterr().out
    assert main(["audit", str(tmp_path / "d"), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "Leakage audit" in out and "naive" in out and "grouped" in out
    assert "Skipped files: 0" in out and "precision" in out


def test_bad_data_path_is_one_clear_line(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alzmri audit: error:") and "does not exist" in err and "Traceback" not in err


def test_audit_reports_skipped_files(tmp_path, capsys):
    main(["synth", "--out", str(tmp_path / "d"), "--n-per-class", "12", "--size", "48", "--balance", "equal"])
    (tmp_path / "d" / "data" / "val" / "NonDemented" / "zero.jpg").write_bytes(b"")
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "d"), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "Skipped files: 1" in out and "zero.jpg: empty file" in out
