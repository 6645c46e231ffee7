"""A swarm seed's variant of a scenario: a random subset of its faults at random rates.

Swarm testing (Groce et al. 2012): one fixed fault mix hides bugs that only a sparser or a
harsher mix shows. Each seed keeps each of the scenario's faults with probability 1/2 and
scales its rate by U(0.1, 1). The variant is a pure function of (scenario, seed), so
``cjsim run SCENARIO --seed N --swarm`` replays exactly what the swarm ran.
"""

from __future__ import annotations

from engine.randomness import Rng, stable_hash64
from sim.scenario import Scenario

__all__ = ["swarm_variant"]


def swarm_variant(scenario: Scenario, seed: int) -> Scenario:
    rng = Rng(stable_hash64("cjsim-swarm", scenario.name, seed))
    faults = []
    for fault in scenario.faults:
        if rng.random() < 0.5:
            continue
        faults.append(
            fault.model_copy(update={"rate": round(fault.rate * rng.uniform(0.1, 1.0), 6)})
        )
    return scenario.model_copy(update={"faults": faults, "seed": seed})
