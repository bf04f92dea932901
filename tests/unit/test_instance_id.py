"""Instance ids claimed from host-local slot locks: distinct while held, reused once free."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tidings.instance_id import assign_instance, claim_slot, host_name
from tidings.settings import IngestSettings, ProcessingSettings, Settings

HOLD = """
import sys, time
from pathlib import Path
from tidings.instance_id import claim_slot
slot = claim_slot(Path(sys.argv[1]), "tidings.resolver")
print(slot.number, flush=True)
time.sleep(60)
"""


def hold_in_child(directory: Path) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    with child.stdout:
        return child, int(child.stdout.readline())


def test_two_claims_in_one_process_get_different_slots(tmp_path: Path) -> None:
    first = claim_slot(tmp_path, "tidings.resolver")
    second = claim_slot(tmp_path, "tidings.resolver")
    assert (first.number, second.number) == (0, 1)


def test_a_released_slot_is_claimed_again(tmp_path: Path) -> None:
    first = claim_slot(tmp_path, "tidings.resolver")
    claim_slot(tmp_path, "tidings.resolver")
    first.release()
    assert claim_slot(tmp_path, "tidings.resolver").number == 0


def test_services_and_prefixes_have_slots_of_their_own(tmp_path: Path) -> None:
    claim_slot(tmp_path, "tidings.resolver")
    assert claim_slot(tmp_path, "tidings.fanout").number == 0
    assert claim_slot(tmp_path, "staging.resolver").number == 0


def test_a_slot_held_by_another_process_is_skipped(tmp_path: Path) -> None:
    child, number = hold_in_child(tmp_path)
    try:
        assert number == 0
        assert claim_slot(tmp_path, "tidings.resolver").number == 1
    finally:
        child.kill()
        child.wait()


def test_a_sigkilled_holders_slot_is_claimed_at_once(tmp_path: Path) -> None:
    child, number = hold_in_child(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait()
    started = time.monotonic()
    assert claim_slot(tmp_path, "tidings.resolver").number == number
    assert time.monotonic() - started < 1


def test_auto_instance_is_host_and_slot_and_moves_the_metrics_ports(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = assign_instance(settings, "resolver")
    second = assign_instance(settings, "resolver")
    assert first.processing.instance_id == f"{host_name()}-0"
    assert second.processing.instance_id == f"{host_name()}-1"
    assert (first.processing.resolver_port, second.processing.resolver_port) == (9181, 9183)
    assert (first.processing.fanout_port, second.processing.fanout_port) == (9182, 9184)
    assert (tmp_path / "ids" / "tidings.resolver.1.lock").exists()


def test_auto_ingest_instances_differ_and_keep_the_port(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = assign_instance(settings, "ingest").ingest
    second = assign_instance(settings, "ingest").ingest
    assert first.instance_id != second.instance_id
    assert first.port == second.port == 8080


def test_an_explicit_instance_id_is_kept_and_claims_nothing(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        processing=ProcessingSettings(instance_id="7"),
        ingest=IngestSettings(instance_id="ingest-a"),
    )
    assert assign_instance(settings, "fanout") is settings
    assert assign_instance(settings, "ingest") is settings
    assert not (tmp_path / "ids").exists()
