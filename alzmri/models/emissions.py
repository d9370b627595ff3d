"""The energy and CO2 estimate of a training, by CodeCarbon's offline tracker (no internet needed).

Training a network costs energy, and a model card should say how much (the Hugging Face card convention,
``co2_eq_emissions``). CodeCarbon estimates the machine's power from its CPU, GPU and memory (measured
where the hardware reports it, else from the CPU's rated power) and converts energy to CO2-equivalent with
the grid intensity of ``Config.emissions_country``. It is an estimate, and the tracker is optional: any
failure of it is recorded as a one-line ``error``, said on the console as a warning, and never fails the
training; a tracker whose ``stop()`` hangs is waited for :data:`STOP_TIMEOUT_S` at most, so the trained model is
saved all the same.
"""

from __future__ import annotations

import logging
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

from alzmri.config import Config
from alzmri.errors import SettingsError
from alzmri.safe_text import one_line

MEASURE_SECONDS = 15  # how often the tracker samples power
STOP_TIMEOUT_S = 30.0  # how long a stopping tracker is waited for before the run is saved without its estimate


def _stop(tracker, config: Config) -> dict:
    """The stopped tracker's record, its ``stop()`` waited for :data:`STOP_TIMEOUT_S` at most (in a daemon thread:
    a hung one is left behind, never waited for again)."""
    outcome: dict = {}

    def stop() -> None:
        try:
            tracker.stop()
            outcome.update(_record(tracker, config))
        except Exception as error:  # noqa: BLE001 - an estimate must never cost a training
            outcome["error"] = one_line(f"not tracked: CodeCarbon failed to measure ({error})")

    thread = threading.Thread(target=stop, name="alzmri-emissions-stop", daemon=True)
    thread.start()
    thread.join(STOP_TIMEOUT_S)
    if thread.is_alive():
        return {"error": f"not tracked: CodeCarbon did not stop within {STOP_TIMEOUT_S:g} s"}
    return outcome


def _tracker(config: Config):
    """A started offline tracker for ``config.emissions_country``, quiet unless something goes wrong.

    Raises:
        SettingsError: CodeCarbon has no grid data for the country (it would log an error and go on).
    """
    from codecarbon import OfflineEmissionsTracker
    from codecarbon.input import DataSource

    logging.getLogger("codecarbon").setLevel(logging.ERROR)  # its start-up lines are noise in a training log
    if config.emissions_country not in DataSource().get_global_energy_mix_data():
        raise SettingsError(f"emissions_country {config.emissions_country!r} is not a country CodeCarbon knows; "
                            "give an ISO 3166 alpha-3 code such as USA, FRA or DEU")
    tracker = OfflineEmissionsTracker(country_iso_code=config.emissions_country, save_to_file=False,
                                      log_level="error", allow_multiple_runs=True, measure_power_secs=MEASURE_SECONDS)
    tracker.start()
    return tracker


def _record(tracker, config: Config) -> dict:
    """What a run's metadata keeps of a stopped tracker."""
    import codecarbon

    data = tracker.final_emissions_data
    hardware = ", ".join(part for part in (f"{data.cpu_count} x {data.cpu_model}" if data.cpu_model else "",
                                           data.gpu_model or "") if part)
    return {"tracker": f"codecarbon {codecarbon.__version__} (offline)", "country": config.emissions_country,
            "duration_s": round(float(data.duration), 1), "energy_kwh": float(data.energy_consumed),
            "co2_eq_emissions_g": float(data.emissions) * 1000, "hardware": hardware or "unknown"}


@contextmanager
def track_emissions(config: Config) -> Iterator[dict]:
    """Measure the block's energy and emissions into the dict this yields (filled when the block ends).

    Args:
        config: the run's settings (``track_emissions``, ``emissions_country``).

    Yields:
        A dict that holds, after the block, the :func:`_record` fields, ``{"error": "<one line>"}`` when the
        tracker failed, or ``{"error": "not tracked (track_emissions is off)"}``.
    """
    record: dict = {}
    tracker = None
    if not config.track_emissions:
        record["error"] = "not tracked (track_emissions is off)"
    else:
        try:
            tracker = _tracker(config)
        except Exception as error:  # noqa: BLE001 - an estimate must never cost a training
            record["error"] = one_line(f"not tracked: {error}")
    try:
        yield record
    finally:
        if tracker is not None:
            record.update(_stop(tracker, config))
        if config.track_emissions and "error" in record:
            warnings.warn(f"Energy estimate {record['error']} (recorded in the run's metadata)", UserWarning,
                          stacklevel=3)
