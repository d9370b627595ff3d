import time

import pytest

from alzmri.timing import StageTimer, machine


def test_stage_timer_adds_up_and_keeps_a_failed_stage():
    timer = StageTimer()
    with timer.stage("sleep"):
        time.sleep(0.05)
    with pytest.raises(KeyError):
        with timer.stage("fails"):
            time.sleep(0.02)
            raise KeyError("boom")
    with timer.stage("sleep"):  # the same stage again adds to it
        time.sleep(0.05)
    table = timer.table()
    assert list(table["stage"]) == ["sleep", "fails", "total"]
    seconds = dict(zip(table["stage"], table["seconds"]))
    assert seconds["sleep"] >= 0.1 and seconds["fails"] >= 0.02
    assert seconds["total"] == pytest.approx(seconds["sleep"] + seconds["fails"])
    assert table["share"].iloc[:-1].sum() == pytest.approx(1.0)
    report = timer.report()
    assert machine() in report and "fails" in report and report.count("\n") == 3


def test_machine_names_the_cores():
    assert machine().endswith("cores") and int(machine().rsplit(", ", 1)[1].split()[0]) >= 1
