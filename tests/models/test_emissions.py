"""Each training records its energy estimate, and a failing tracker never fails a run."""

import pytest

from alzmri.config import get_config
from alzmri.errors import SettingsError
from alzmri.models.emissions import track_emissions
from alzmri.models.runs import read_metadata


def test_a_trained_run_records_its_energy_and_emissions(smoke_run):
    emissions = read_metadata(smoke_run)["emissions"]
    assert "error" not in emissions, emissions
    assert emissions["tracker"].startswith("codecarbon") and emissions["country"] == "USA"
    assert emissions["energy_kwh"] > 0 and emissions["co2_eq_emissions_g"] > 0
    assert emissions["duration_s"] >= 0


def test_a_tracker_that_cannot_start_is_recorded_not_raised(monkeypatch):
    import codecarbon

    def broken(*args, **kwargs):
        raise RuntimeError("no power readings")

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", broken)
    with pytest.warns(UserWarning, match="no power readings"):
        with track_emissions(get_config("smoke")) as record:
            total = sum(range(1000))
    assert total == 499500
    assert record == {"error": "not tracked: no power readings"}


def test_an_unknown_country_is_recorded_and_a_malformed_one_refused():
    with pytest.warns(UserWarning, match="Energy estimate not tracked: emissions_country 'XXX'"):
        with track_emissions(get_config("smoke", emissions_country="XXX")) as record:
            pass
    assert "emissions_country 'XXX' is not a country CodeCarbon knows" in record["error"]
    with pytest.raises(SettingsError, match="emissions_country must be an ISO 3166 alpha-3 code"):
        get_config("smoke", emissions_country="france")


def test_tracking_can_be_switched_off():
    with track_emissions(get_config("smoke", track_emissions=False)) as record:
        pass
    assert record == {"error": "not tracked (track_emissions is off)"}


def test_settings_that_do_not_shape_the_model_reuse_a_finished_run(smoke_run):
    from alzmri.models.training import get_or_train

    other = get_config("smoke", emissions_country="FRA", voting="weighted", voting_threshold=0.5)
    assert get_or_train(other, progress=False) == smoke_run  # reused, not trained again


def test_a_hung_tracker_is_left_behind_and_said(monkeypatch):
    import threading

    from alzmri.models import emissions

    class Hung:
        def stop(self):
            threading.Event().wait()

    monkeypatch.setattr(emissions, "_tracker", lambda config: Hung())
    monkeypatch.setattr(emissions, "STOP_TIMEOUT_S", 0.2)
    with pytest.warns(UserWarning, match="did not stop within 0.2 s"):
        with track_emissions(get_config("smoke")) as record:
            pass
    assert record == {"error": "not tracked: CodeCarbon did not stop within 0.2 s"}
