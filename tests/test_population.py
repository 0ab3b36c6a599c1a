"""Population-based training (proposer ``pbt``): generations, exploit and explore, lineage, restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import AUTOPILOT, make_ws, runs

from autopilot.analysis.lineage import TAG, generations, lineage, tag_value
from autopilot.config import to_dotted
from autopilot.experiment.parse import load_experiment
from autopilot.experiment.schema import PBTOptions, ProposerSpec
from autopilot.proposers.base import Proposal
from autopilot.proposers.population import PopulationProposer
from autopilot.report.export import to_optuna
from autopilot.testing import BASELINE, SPACE, context, view
from autopilot.workspace.layout import Workspace
from autopilot.workspace.records import RunView

SEGMENT = BASELINE["train"]["total_timesteps"] // 2


def options(population: int = 4) -> ProposerSpec:
    return ProposerSpec(pbt=PBTOptions(population=population))


def as_run(i: int, proposal: Proposal, score: float | None, state: str = "complete") -> RunView:
    """The run a proposal became, with its tags and parent, scored ``score``."""
    out = view(i, proposal.overrides, score, state=state)
    out.record.tags = list(proposal.tags)
    out.record.parent_ids = list(proposal.parent_ids)
    out.record.proposer = proposal.proposer
    return out


def first_generation(scores: list[float | None]) -> list[RunView]:
    """The baseline and a finished generation 0 of ``len(scores)`` members scored ``scores``."""
    ctx = context(seed=1, options=options(len(scores)))
    proposals = PopulationProposer().propose([], len(scores) + 1, ctx)
    assert proposals[0].tags[0] == "baseline" and proposals[0].overrides == {}
    return [as_run(0, proposals[0], 0.1)] + [
        as_run(i + 1, p, s, "complete" if s is not None else "failed")
        for i, (p, s) in enumerate(zip(proposals[1:], scores, strict=True))
    ]


def test_generation_zero_is_the_baseline_then_members_training_a_segment_from_scratch() -> None:
    proposals = PopulationProposer().propose([], 5, context(seed=1, options=options(4)))
    assert [p.tags[:3] for p in proposals[1:]] == [["pbt", "generation:0", f"member:{k}"] for k in range(4)]
    for p in proposals[1:]:
        assert SPACE.validate(p.overrides, BASELINE).ok
        flat = to_dotted(p.overrides)
        assert flat["train.total_timesteps"] == SEGMENT and flat["autopilot.save_strategy"] == "all"
        assert "autopilot.resume_from" not in flat and p.parent_ids == []
    assert len({p.overrides["train.seed"] for p in proposals[1:]}) == 4  # each member its own training seed


def test_at_a_boundary_the_bottom_quantile_continues_a_top_members_policy_with_perturbed_hyperparameters() -> None:
    history = first_generation([0.2, 0.8, 0.5, 0.05])  # member 3 is the bottom quarter, member 1 the top
    runs = {int(v.record.tags[2].split(":")[1]): v for v in history[1:]}
    proposals = PopulationProposer().propose(history, 8, context(seed=1, options=options(4)))
    assert [p.tags[1:3] for p in proposals] == [["generation:1", f"member:{k}"] for k in range(4)]
    for k, p in enumerate(proposals):
        assert SPACE.validate(p.overrides, BASELINE).ok, p.overrides
        flat = to_dotted(p.overrides)
        assert flat["autopilot.resume_mode"] == "continue" and flat["train.total_timesteps"] == SEGMENT
        if k == 3:  # exploit: the top member's checkpoint, its hyperparameters moved
            assert "exploit" in p.tags and p.parent_ids == [runs[1].id] and flat["autopilot.resume_from"] == runs[1].id
            assert _tuned(p.overrides) != _tuned(runs[1].overrides)
        else:  # the rest continue their own policy with their own hyperparameters
            assert "continue" in p.tags and p.parent_ids == [runs[k].id] and flat["autopilot.resume_from"] == runs[k].id
            assert _tuned(p.overrides) == _tuned(runs[k].overrides)


def test_a_failed_member_is_replaced_and_a_generation_part_run_is_finished_without_repeats() -> None:
    history = first_generation([0.3, None, 0.6, 0.4])  # member 1 failed
    ctx = context(seed=1, options=options(4))
    whole = PopulationProposer().propose(history, 4, ctx)
    assert whole[1].parent_ids == [history[3].id] and "exploit" in whole[1].tags  # from the top member (2)
    # Two members of generation 1 ran before the loop was killed: a restarted loop proposes the other two,
    # the same proposals a loop that never stopped would have made.
    done = [as_run(10 + i, p, 0.5) for i, p in enumerate(whole[:2])]
    rest = PopulationProposer().propose(history + done, 4, ctx)
    assert [p.tags[1:3] for p in rest] == [["generation:1", "member:2"], ["generation:1", "member:3"]]
    assert [p.overrides for p in rest] == [p.overrides for p in whole[2:]]
    gens = generations(history + done + [as_run(20 + i, p, 0.5) for i, p in enumerate(rest)])
    assert sorted(gens) == [0, 1] and all(len(members) == 4 for members in gens.values())


def test_a_running_generation_gets_no_next_one() -> None:
    history = first_generation([0.3, 0.2, 0.6, 0.4])
    history[2].record.state = "running"
    assert PopulationProposer().propose(history, 4, context(seed=1, options=options(4))) == []


def test_a_policys_lineage_is_the_chain_of_segments_it_continued() -> None:
    history = first_generation([0.2, 0.8, 0.5, 0.05])
    ctx = context(seed=1, options=options(4))
    second = [as_run(10 + i, p, 0.6) for i, p in enumerate(PopulationProposer().propose(history, 4, ctx))]
    third = [as_run(20 + i, p, 0.7) for i, p in enumerate(PopulationProposer().propose(history + second, 4, ctx))]
    everything = history + second + third
    chain = lineage(everything, third[3].id)
    assert len(chain) == 3 and chain[-1].id == third[3].id
    assert chain[0].record.parent_ids == [] and "generation:0" in chain[0].record.tags
    assert [v.record.parent_ids for v in chain[1:]] == [[chain[0].id], [chain[1].id]]


def _tuned(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in to_dotted(overrides).items() if k in SPACE.params and SPACE.params[k].tunable}


def _segments(root: Path) -> dict[tuple[int, int], list[Any]]:
    """(generation, member) -> the segment runs of it (re-runs on other seeds left out)."""
    out: dict[tuple[int, int], list[Any]] = {}
    for v in runs(Workspace(root)):
        if TAG in v.record.tags and "confirm" not in v.record.tags:
            key = (tag_value(v, "generation"), tag_value(v, "member"))
            out.setdefault(key, []).append(v)  # type: ignore[arg-type]
    return out


@pytest.mark.slow
def test_kill_9_mid_generation_then_restart_loses_and_duplicates_no_member(tmp_path: Path) -> None:
    args = ["run", "--proposer", "pbt", "--trials", "12", "--seed", "3"]

    def workspace(root: Path) -> Path:
        make_ws(root, proposer={"name": "pbt", "pbt": {"population": 3}})
        baseline = json.loads((root / "configs" / "baseline_quick.json").read_text())
        baseline["train"]["sleep"] = 0.4  # long enough to be killed mid-trial
        for mode in ("quick", "full"):
            (root / "configs" / f"baseline_{mode}.json").write_text(json.dumps(baseline))
        return root

    reference = workspace(tmp_path / "ref")
    subprocess.run([AUTOPILOT, *args, "-w", str(reference)], check=True, capture_output=True, timeout=300)
    root = workspace(tmp_path / "ws")
    loop = subprocess.Popen([AUTOPILOT, *args, "-w", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (
        sum(v.state == "complete" and TAG in v.record.tags for v in runs(Workspace(root))) >= 5
        and any(v.state == "running" for v in runs(Workspace(root)))
    ):
        assert time.monotonic() < deadline and loop.poll() is None, "the loop ended before it could be killed"
        time.sleep(0.05)
    loop.send_signal(signal.SIGKILL)
    loop.wait(timeout=30)
    subprocess.run([AUTOPILOT, *args, "-w", str(root)], check=True, capture_output=True, timeout=300)

    views = runs(Workspace(root))
    assert not [v for v in views if v.state in ("running", "pending")]
    assert [v.record.failure_class for v in views if v.state == "failed"] == ["interrupted"]
    segments, expected = _segments(root), _segments(reference)
    for key, members in segments.items():
        complete = [v for v in members if v.state == "complete"]
        assert len(complete) == 1, (key, [v.state for v in members])  # each member once a generation
    generations_run = sorted({g for g, _ in segments})
    assert len(generations_run) >= 3
    for g in generations_run[:-1]:  # every generation but the budget's last is whole
        assert {k for gg, k in segments if gg == g} == {0, 1, 2}
    # The restarted loop made the same population decisions as one never stopped: each member's
    # hyperparameters and parent member, generation by generation.
    for key in set(segments) & set(expected):
        ours = next(v for v in segments[key] if v.state == "complete")
        theirs = next(v for v in expected[key] if v.state == "complete")
        assert _tuned(ours.overrides) == _tuned(theirs.overrides), key
        assert [tag_value(p, "member") for p in _parents(views, ours)] == [
            tag_value(p, "member") for p in _parents(runs(Workspace(reference)), theirs)
        ]
    # Every continued segment's trainer loaded its parent's checkpoint (the fake trainer reports the path).
    for key, members in segments.items():
        for v in members:
            if v.state == "complete" and v.record.parent_ids:
                reported = json.loads((root / "runs" / v.id / "trainer_summary.json").read_text())
                loaded = reported["metrics"]["load"]
                assert loaded and v.record.parent_ids[0] in loaded, (key, loaded)
    board = json.loads((root / "leaderboard.json").read_text())
    exported = subprocess.run(
        [AUTOPILOT, "export", "-w", str(root), "schedule", board["best"]], check=True, capture_output=True, text=True
    )
    schedule = json.loads(exported.stdout)
    assert schedule["segments"][-1]["run_id"] == board["best"]
    assert [s["from_step"] for s in schedule["segments"]] == sorted(s["from_step"] for s in schedule["segments"])
    # The Optuna export names each segment's place in the population, and the champion's lineage.
    study = to_optuna(Workspace(root), load_experiment(root / "autopilot.yaml"))
    assert study.best_trial.user_attrs["lineage"] == [s["run_id"] for s in schedule["segments"]]
    assert {t.user_attrs.get("generation") for t in study.trials} >= set(generations_run)


def _parents(views: list[Any], view: Any) -> list[Any]:
    by_id = {v.id: v for v in views}
    return [by_id[p] for p in view.record.parent_ids if p in by_id]


def test_in_safe_mode_the_explore_step_moves_half_as_far_and_draws_nothing_new() -> None:
    import numpy as np

    from autopilot.proposers.population import perturb
    from autopilot.proposers.sampling import to_unit

    start = _tuned(first_generation([0.5, 0.2])[2].overrides)  # member 1: a Sobol point, every key set
    for safe in (False, True):
        ctx = context(seed=1, safe_mode=safe, options=ProposerSpec(pbt=PBTOptions(resample=0.5, perturb=0.2)))
        moves = []
        for k in range(20):
            moved, _ = perturb(start, ctx, np.random.default_rng(k))
            moves += [
                abs(to_unit(SPACE.params[key], moved[key]) - to_unit(SPACE.params[key], value))
                for key, value in start.items()
                if SPACE.params[key].is_numeric
            ]
        if safe:
            assert max(moves) <= 0.1 + 1e-9  # half of perturb, and no re-draw anywhere in the range
        else:
            assert max(moves) > 0.2  # re-draws jump further than a perturbation


def test_a_generation_that_failed_whole_starts_afresh() -> None:
    history = first_generation([None, None, None])
    proposals = PopulationProposer().propose(history, 3, context(seed=1, options=options(3)))
    assert all("restart" in p.tags and p.parent_ids == [] for p in proposals)
    assert all("autopilot.resume_from" not in to_dotted(p.overrides) for p in proposals)
    assert all(SPACE.validate(p.overrides, BASELINE).ok for p in proposals)


def test_the_population_plot_draws_every_segment_and_the_champions_lineage() -> None:
    from autopilot.report import plots

    history = first_generation([0.2, 0.8, 0.5, 0.05])
    second = [
        as_run(10 + i, p, 0.6)
        for i, p in enumerate(PopulationProposer().propose(history, 4, context(seed=1, options=options(4))))
    ]
    fig = plots.population(history + second, second[3].id, "success_rate")
    assert fig is not None
    [ax] = fig.axes
    champion_lines = [line for line in ax.get_lines() if line.get_label() == "the champion's lineage"]
    assert len(champion_lines) == 1 and list(champion_lines[0].get_xdata()) == [0, 1]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1  # member 3 took member 1's policy
    assert plots.population(history[:1], None, "success_rate") is None  # no population: no plot
