from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopilot.config import config_hash, deep_merge, to_dotted, to_nested
from autopilot.experiment import presets
from autopilot.space import Parameter, SearchSpace, SpaceError

SPACE = SearchSpace.from_dict(presets.default_search_space(), presets.puffer_rules())
BASELINE = presets.baseline_config("builtin", "drone_delivery", "quick")
SEED_000_RANGES = {
    "train.learning_rate": (1e-6, 1.0),
    "train.ent_coef": (0, 1),
    "train.bptt_horizon": (1, 512),
    "train.total_timesteps": (1_000, 1_000_000_000),
    "train.seed": (0, 2_147_483_647),
    "train.update_epochs": (1, 32),
    "train.gae_lambda": (0, 1),
    "train.gamma": (0, 0.999999),
    "train.clip_coef": (0, 1),
    "train.vf_clip_coef": (0, 10),
    "train.vf_coef": (0, 10),
    "train.max_grad_norm": (0, 100),
    "train.checkpoint_interval": (1, 1_000_000),
    "train.adam_beta1": (0, 0.999999),
    "train.adam_beta2": (0, 0.9999999),
    "train.adam_eps": (1e-14, 1e-2),
    "env.num_drones": (1, 256),
    "vec.num_workers": (1, 256),
}
SEED_000_CHOICES = {
    "train.optimizer": ("muon", "adam", "adamw"),
    "train.precision": ("float32", "bfloat16"),
    "train.device": ("mps", "cpu", "cuda"),
    "autopilot.resume_mode": ("fresh", "continue"),
    "autopilot.save_strategy": ("best", "latest", "all"),
}
SEED_000_BOOLS = ["anneal_lr", "torch_deterministic", "cpu_offload", "compile", "compile_fullgraph"]


def errors_of(override: dict[str, Any], workspace: Path | None = None) -> list[str]:
    return SPACE.validate(override, BASELINE, workspace).errors


def test_default_space_has_seed_000_keys_with_exact_ranges() -> None:
    for key, (low, high) in SEED_000_RANGES.items():
        assert (SPACE.params[key].low, SPACE.params[key].high) == (low, high), key
    for key, choices in SEED_000_CHOICES.items():
        assert SPACE.params[key].choices == choices, key
    for name in SEED_000_BOOLS:
        assert SPACE.params[f"train.{name}"].type == "bool"
    assert "max-autotune-no-cudagraphs" in SPACE.params["train.compile_mode"].choices
    assert SPACE.params["autopilot.resume_from"].type == "run_ref"
    for key in ("train.learning_rate", "train.ent_coef", "train.adam_eps", "train.total_timesteps"):
        assert SPACE.params[key].scale == "log", key
    assert {"env.num_envs", "vec.num_envs"} <= set(SPACE.params)


@pytest.mark.parametrize("key", sorted(SEED_000_RANGES))
def test_bounds_are_inclusive_and_one_step_outside_is_rejected(key: str) -> None:
    param = SPACE.params[key]
    assert param.low is not None and param.high is not None
    for value in (param.low, param.high):
        assert param.check(int(value) if param.type == "int" else value) is None
    below = param.low - 1 if param.type == "int" else param.low - max(abs(param.low) * 0.5, 1e-3)
    above = param.high + 1 if param.type == "int" else param.high + max(abs(param.high) * 0.5, 1e-3)
    for value in (below, above):
        reason = param.check(int(value) if param.type == "int" else value)
        assert reason is not None and "outside the safe range" in reason


def test_every_error_is_reported_at_once_one_line_per_key() -> None:
    errors = errors_of(
        {
            "train": {"learning_rat": 0.01, "anneal_lr": 1, "ent_coef": math.nan, "optimizer": "sgd"},
            "train.bptt_horizon": 16.0,
            "env.num_drones": 400,
            "vec.num_workers": 3,
        }
    )
    assert errors == [
        "env.num_drones: 400 is outside the safe range [1, 256]",
        "train.anneal_lr: must be JSON true or false, got 1",
        "train.bptt_horizon: must be an integer in [1, 512], got 16.0",
        "train.ent_coef: not a finite number: NaN",
        "train.learning_rat: not an overridable key (not in the search space); did you mean train.learning_rate?",
        "train.optimizer: must be one of muon, adam, adamw, got string 'sgd'",
        "vec.num_envs: must be divisible by vec.num_workers (3), got 1 "
        "(PufferLib splits vec.num_envs evenly over its workers)",
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (1, "1"),
        ("true", "string 'true'"),
        ("false", "string 'false'"),
        (None, "null"),
        ([True], "list [True]"),
    ],
)
def test_booleans_must_be_json_true_or_false(value: Any, shown: str) -> None:
    assert errors_of({"train.anneal_lr": value}) == [f"train.anneal_lr: must be JSON true or false, got {shown}"]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_rejected(value: float) -> None:
    [error] = errors_of({"train.learning_rate": value})
    assert error.startswith("train.learning_rate: not a finite number")


@pytest.mark.parametrize("value", ["0.01", True, None])
def test_numbers_are_never_coerced_from_strings_or_booleans(value: Any) -> None:
    [error] = errors_of({"train.learning_rate": value})
    assert error.startswith("train.learning_rate: must be a number in [1e-06, 1.0], got")


def test_integer_keys_reject_floats_even_integral_ones() -> None:
    assert errors_of({"train.update_epochs": 2.0}) == ["train.update_epochs: must be an integer in [1, 32], got 2.0"]
    assert errors_of({"train.update_epochs": 2.5}) == ["train.update_epochs: must be an integer in [1, 32], got 2.5"]


def test_float_keys_accept_integers() -> None:
    assert errors_of({"train.vf_coef": 2}) == []


def test_categoricals_are_exact() -> None:
    assert errors_of({"train.device": "CPU"}) == ["train.device: must be one of mps, cpu, cuda, got string 'CPU'"]
    assert errors_of({"train.device": "cpu"}) == []


def test_typo_suggests_the_closest_key_even_across_sections() -> None:
    assert errors_of({"learning_rate": 0.01}) == [
        "learning_rate: not an overridable key (not in the search space); did you mean train.learning_rate?"
    ]
    assert errors_of({"train.max_grad": 1.0})[0].endswith("did you mean train.max_grad_norm?")


def test_keys_outside_the_space_are_rejected_even_if_in_the_baseline() -> None:
    assert errors_of({"train.vtrace_rho_clip": 1.0})[0].startswith("train.vtrace_rho_clip: not an overridable key")


def test_derived_batch_sizes_are_filled_in_when_absent() -> None:
    result = SPACE.validate({"env": {"num_drones": 4}, "train.bptt_horizon": 64}, BASELINE)
    assert result.ok
    expected = 128 * 4 * 1 * 64
    assert result.derived == {
        "train.batch_size": expected,
        "train.minibatch_size": expected,
        "train.max_minibatch_size": expected,
    }
    assert result.normalized == {
        "env.num_drones": 4,
        "train.batch_size": expected,
        "train.bptt_horizon": 64,
        "train.max_minibatch_size": expected,
        "train.minibatch_size": expected,
    }


def test_derived_values_given_consistently_are_accepted_and_not_duplicated() -> None:
    result = SPACE.validate(
        {
            "env.num_drones": 4,
            "train": {"batch_size": 8192, "minibatch_size": 8192, "max_minibatch_size": 8192},
        },
        BASELINE,
    )
    assert result.ok and result.derived == {}


def test_derived_values_given_inconsistently_are_rejected_with_the_formula() -> None:
    assert errors_of({"env.num_drones": 4, "train.batch_size": 16384}) == [
        "train.batch_size: must equal env.num_envs * env.num_drones * vec.num_envs * train.bptt_horizon = 8192, "
        "got 16384 (one horizon of experience from every agent)"
    ]
    assert errors_of({"train.minibatch_size": 4096}) == [
        "train.minibatch_size: must equal train.batch_size = 16384, got 4096"
    ]
    assert errors_of({"train.batch_size": True})[0] == (
        "train.batch_size: must be an integer (derived by a rule), got true"
    )


def test_divisibility_rule() -> None:
    assert errors_of({"vec.num_envs": 4, "vec.num_workers": 2}) == []
    assert errors_of({"vec.num_envs": 3, "vec.num_workers": 2}) == [
        "vec.num_envs: must be divisible by vec.num_workers (2), got 3 "
        "(PufferLib splits vec.num_envs evenly over its workers)"
    ]


def test_total_timesteps_must_cover_one_batch() -> None:
    assert errors_of({"train.total_timesteps": 2000}) == [
        "train.total_timesteps: rule train.total_timesteps >= train.batch_size is violated (2000 < 16384) "
        "(at least one full batch)"
    ]


def test_pufferlib_segment_rule_as_data() -> None:
    space = SearchSpace.from_dict(
        {"train.batch_size": {"type": "int", "low": 1, "high": 10**9}},
        [
            {
                "check": "at_least",
                "key": "train.batch_size",
                "divided_by": "train.bptt_horizon",
                "than": ["env.num_envs"],
            }
        ],
    )
    base = {"train": {"batch_size": 1024, "bptt_horizon": 16}, "env": {"num_envs": 64}}
    assert space.validate({}, base).ok
    assert space.validate({"train.batch_size": 512}, base).errors == [
        "train.batch_size: rule train.batch_size // train.bptt_horizon >= env.num_envs is violated (32 < 64)"
    ]


def test_resume_from_accepts_words_run_ids_and_paths_inside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "runs" / "2026-11-22T140103Z-a1b2" / "checkpoints").mkdir(parents=True)
    (tmp_path / "runs" / "2026-11-22T140103Z-a1b2" / "checkpoints" / "model.pt").write_bytes(b"x")
    for ok in ("latest", "best", "2026-11-22T140103Z-a1b2", "runs/2026-11-22T140103Z-a1b2/checkpoints/model.pt"):
        assert errors_of({"autopilot.resume_from": ok}, tmp_path) == [], ok
    assert errors_of({"autopilot.resume_from": "2026-11-22T140103Z-ffff"}, tmp_path) == [
        f"autopilot.resume_from: no run with id '2026-11-22T140103Z-ffff' in {tmp_path / 'runs'}"
    ]
    [outside] = errors_of({"autopilot.resume_from": "../elsewhere/model.pt"}, tmp_path)
    assert "resolves outside the workspace" in outside
    [absolute] = errors_of({"autopilot.resume_from": "/etc/passwd"}, tmp_path)
    assert "resolves outside the workspace" in absolute
    [missing] = errors_of({"autopilot.resume_from": "runs/nothing.pt"}, tmp_path)
    assert "no checkpoint file" in missing


def test_resume_from_symlink_escaping_the_workspace_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pt"
    outside.write_bytes(b"x")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "link.pt").symlink_to(outside)
    [error] = errors_of({"autopilot.resume_from": "link.pt"}, ws)
    assert "resolves outside the workspace" in error


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1, "high": 0}, "search_space.x: low (1) is greater than high (0)"),
        ({"type": "float", "low": 0, "high": 1, "scale": "log"}, "log scale needs a positive sampling range"),
        ({"type": "floaty", "low": 0, "high": 1}, "search_space.x.type: must be one of float, int"),
        ({"type": "categorical"}, "search_space.x.choices: a categorical parameter needs a non-empty list"),
        ({"type": "float", "low": 0, "high": 1, "tune": [0.5, 2]}, "search_space.x.tune: must be [low, high] inside"),
        ({"type": "float", "low": 0, "hgh": 1}, "search_space.x.hgh: unknown field; did you mean high?"),
        ({"type": "int", "low": "a", "high": 1}, "search_space.x.low: must be a finite number, got string 'a'"),
    ],
)
def test_invalid_space_definitions_are_reported(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError) as err:
        SearchSpace.from_dict({"x": spec})
    assert any(message in e for e in err.value.errors), err.value.errors


def test_invalid_rules_are_reported() -> None:
    with pytest.raises(SpaceError) as err:
        SearchSpace.from_dict({"x": {"type": "bool"}}, [{"check": "multiple", "key": "x"}, {"check": "derive"}])
    assert err.value.errors == [
        "rules[0].check: must be one of divisible, derive, at_least, got string 'multiple'",
        "rules[1].key: must be a dotted config key, got null",
        "rules[1].product: must be a non-empty list of dotted keys or positive integers, got list []",
    ]


def test_a_rule_factor_may_be_a_constant_and_only_a_positive_integer() -> None:
    rule = {"check": "at_least", "key": "a", "divided_by": "h", "than": ["n", 4], "doc": "4 agents an env"}
    space = SearchSpace.from_dict({"a": {"type": "int", "low": 1, "high": 10_000}}, [rule])
    assert space.validate({"a": 64}, {"a": 1, "h": 2, "n": 8}).ok  # 64 // 2 = 32 >= 8 * 4
    [error] = space.validate({"a": 48}, {"a": 1, "h": 2, "n": 8}).errors
    assert error == "a: rule a // h >= n * 4 is violated (24 < 32) (4 agents an env)"
    for bad in (0, -2, True, 1.5):
        with pytest.raises(SpaceError, match="dotted keys or positive integers"):
            SearchSpace.from_dict({"a": {"type": "int", "low": 1, "high": 9}}, [{**rule, "than": ["n", bad]}])


def test_pow2_parameters() -> None:
    param = Parameter.from_dict("vec.num_envs", {"type": "pow2", "low": 1, "high": 64})
    assert param.check(16) is None
    assert param.check(12) == "must be a power of two in [1, 64], got 12"


# ---------------------------------------------------------------- properties

TUNABLE = {k: p for k, p in SPACE.params.items() if p.type not in ("run_ref",) and not k.startswith(("env.", "vec."))}


def _valid_value(param: Parameter) -> st.SearchStrategy[Any]:
    if param.type == "bool":
        return st.booleans()
    if param.type == "categorical":
        return st.sampled_from(param.choices)
    assert param.low is not None and param.high is not None
    if param.type == "int":
        return st.integers(int(param.low), int(param.high))
    return st.floats(param.low, param.high, allow_nan=False, allow_infinity=False)


def _invalid_value(param: Parameter) -> st.SearchStrategy[Any]:
    wrong_type = st.one_of(st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2))
    if param.type == "bool":
        return st.one_of(wrong_type, st.integers(), st.floats())
    if param.type == "categorical":
        return st.one_of(st.integers(), st.text(max_size=8).filter(lambda s: s not in param.choices))
    assert param.low is not None and param.high is not None
    outside = st.one_of(
        st.floats(max_value=param.low, exclude_max=True, allow_nan=False),
        st.floats(min_value=param.high, exclude_min=True, allow_nan=False),
        st.just(math.nan),
    )
    if param.type == "int":
        return st.one_of(wrong_type, outside, st.booleans(), st.integers(max_value=int(param.low) - 1))
    return st.one_of(wrong_type, outside, st.booleans())


@st.composite
def valid_overrides(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(TUNABLE)), unique=True, max_size=8))
    override = {k: draw(_valid_value(TUNABLE[k])) for k in keys}
    # Keep the rules satisfiable: enough timesteps for the batch this horizon makes.
    if "train.total_timesteps" in override or "train.bptt_horizon" in override:
        horizon = override.get("train.bptt_horizon", BASELINE["train"]["bptt_horizon"])
        override["train.total_timesteps"] = max(override.get("train.total_timesteps", 0), 1024 * horizon)
    return override


@st.composite
def invalid_overrides(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    override = draw(valid_overrides())
    key = draw(st.sampled_from(sorted(TUNABLE)))
    override[key] = draw(_invalid_value(TUNABLE[key]))
    return override, key


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(valid_overrides())
def test_every_valid_override_passes_and_round_trips(override: dict[str, Any]) -> None:
    result = SPACE.validate(override, BASELINE)
    assert result.ok, result.errors
    assert to_dotted(to_nested(result.override)) == result.override
    nested = SPACE.validate(to_nested(override), BASELINE)
    assert nested.normalized == result.normalized
    merged = deep_merge(BASELINE, result.normalized)
    assert config_hash(merged, SPACE.is_float) == config_hash(
        deep_merge(BASELINE, to_nested(result.normalized)), SPACE.is_float
    )


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_overrides())
def test_no_invalid_override_passes(case: tuple[dict[str, Any], str]) -> None:
    override, bad_key = case
    result = SPACE.validate(override, BASELINE)
    assert not result.ok
    assert any(e.startswith(f"{bad_key}: ") for e in result.errors), result.errors
    assert result.derived == {}


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=30).filter(lambda k: f"train.{k}" not in SPACE.allowed_keys))
def test_unknown_keys_never_pass(key: str) -> None:
    assert not SPACE.validate({f"train.{key}": 1}, BASELINE).ok
