"""Atomic writes: a unique temporary file per writer, so concurrent writers never tear or lose each other's file."""

import json
import multiprocessing

import pytest

from alzmri.files import atomic_path, write_text_atomically


def _write_many(path: str, writer: int, times: int) -> None:
    for i in range(times):
        write_text_atomically(path, json.dumps({"writer": writer, "i": i, "pad": "x" * 20000}))


def test_two_processes_writing_one_file_never_tear_it(tmp_path):
    path = tmp_path / "metrics.json"
    write_text_atomically(path, "{}")
    workers = [multiprocessing.get_context("fork").Process(target=_write_many, args=(str(path), w, 150))
               for w in range(2)]
    for worker in workers:
        worker.start()
    reads = 0
    while any(w.is_alive() for w in workers):
        json.loads(path.read_text())  # every read sees a whole file
        reads += 1
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0  # no writer lost its temporary file to the other
    assert reads > 0 and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "card.md"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["card.md"]


def test_an_atomic_write_gets_the_permissions_a_plain_write_would(tmp_path):
    import os
    import stat

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_text_atomically(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.chmod(atomic, 0o640)
    write_text_atomically(atomic, "y")  # a rewrite keeps the file's own permissions
    assert stat.S_IMODE(atomic.stat().st_mode) == 0o640


def test_a_write_through_a_symbolic_link_replaces_its_target_and_keeps_the_link(tmp_path):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    write_text_atomically(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_fifo_or_a_folder_is_never_replaced(tmp_path):
    import os
    import stat

    from alzmri.cli.options import check_output_file
    from alzmri.errors import NotWritableError

    fifo, link = tmp_path / "fifo", tmp_path / "out.json"
    os.mkfifo(fifo)
    link.symlink_to(fifo)
    for path in (fifo, link, tmp_path):
        with pytest.raises(NotWritableError, match="not a regular file"):
            write_text_atomically(path, "{}")
        with pytest.raises(NotWritableError, match="not a regular file"):
            check_output_file(str(path), "--json")  # refused before the work starts
    assert stat.S_ISFIFO(fifo.stat().st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "out.json"]  # no temporary file left
