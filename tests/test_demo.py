"""The demo's words around its numbers: a plain sentence before each step's numbers, and where its score falls in
the range the preset scored over several seeds (run_demo itself is run by benchmarks/demo.py, not here: it trains)."""

import json

import pytest

from alzmri import demo


@pytest.fixture
def seeds_file(tmp_path):
    path = tmp_path / "demo_seeds.json"
    path.write_text(json.dumps({"machine": "AMD EPYC, 2 cores", "date": "2026-12-06", "profile": "demo",
                                "seeds": [{"seed": s} for s in range(5)],
                                "balanced_accuracy": {"median": 0.75, "min": 0.7, "max": 0.83, "spread": 0.13}}))
    return path


@pytest.mark.parametrize("score, place", [(0.71, "within"), (0.65, "below"), (0.9, "above")])
def test_the_closing_line_places_the_score_in_the_range_over_seeds(seeds_file, score, place):
    line = demo.seed_range_line(score, "demo", seeds_file)
    assert f"This run's {score:.3f} lies {place} the range the demo preset scored over 5 seeds" in line
    assert "AMD EPYC, 2 cores (2026-12-06): 0.700 to 0.830, median 0.750" in line
    assert "Another seed or CPU trains another model" in line


def test_no_range_is_claimed_for_another_preset_or_without_a_sound_file(seeds_file, tmp_path):
    assert demo.seed_range_line(0.7, "smoke", seeds_file) is None
    assert demo.seed_range_line(0.7, "demo", tmp_path / "missing.json") is None
    (tmp_path / "torn.json").write_text(seeds_file.read_text()[:40])
    assert demo.seed_range_line(0.7, "demo", tmp_path / "torn.json") is None  # the demo's last line never crashes


def test_every_step_says_in_plain_words_what_its_numbers_mean(capsys):
    assert set(demo.PLAIN) == set(range(1, demo.STEPS + 1))
    demo._step(6, "the leakage lesson")
    out = capsys.readouterr().out
    assert out.startswith("\n[6/6] the leakage lesson\n") and "Labels that mean nothing cannot be learnt" in out
    assert max(len(line) for line in out.splitlines()) <= 100
