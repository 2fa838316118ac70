"""The demo's templates ship inside the package, identical to the lab captures (R-OPS-6)."""

from __future__ import annotations

from pathlib import Path

from ccagent.pbx.ami.adapter import DEMO_SCENARIOS
from ccagent.pbx.esl.adapter import DEMO_SCENARIOS as FS_DEMO_SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "ccagent" / "sim" / "templates"


def test_R_OPS_6_every_demo_scenario_is_packaged_byte_for_byte() -> None:
    kinds = (("asterisk", DEMO_SCENARIOS, "ami.log"), ("freeswitch", FS_DEMO_SCENARIOS, "esl.log"))
    for pbx, names, log in kinds:
        for name in set(names):
            for f in (log, "legs.json"):
                packaged = PACKAGED / pbx / name / f
                assert packaged.is_file(), f"{packaged} missing: `pip install .` would break ccagent demo"
                assert packaged.read_bytes() == (ROOT / "tests" / "traces" / pbx / name / f).read_bytes()
