from __future__ import annotations

import pytest

from autopilot.config import (
    JSONInputError,
    OverrideError,
    config_diff,
    config_hash,
    deep_merge,
    parse_json_object,
    to_dotted,
    to_nested,
)


def test_nested_dotted_and_mixed_forms_flatten_alike() -> None:
    nested = {"train": {"learning_rate": 0.003, "ent_coef": 0.1}, "env": {"num_drones": 4}}
    dotted = {"train.learning_rate": 0.003, "train.ent_coef": 0.1, "env.num_drones": 4}
    mixed = {"train": {"learning_rate": 0.003}, "train.ent_coef": 0.1, "env.num_drones": 4}
    assert to_dotted(nested) == to_dotted(dotted) == to_dotted(mixed) == dotted
    assert to_nested(dotted) == nested


def test_the_same_key_twice_is_refused_not_silently_resolved() -> None:
    with pytest.raises(OverrideError) as err:
        to_dotted({"train": {"learning_rate": 0.1}, "train.learning_rate": 0.2})
    assert err.value.errors == ["train.learning_rate: given more than once (nested and dotted forms of the same key)"]


def test_a_value_where_a_section_is_expected_is_refused() -> None:
    with pytest.raises(OverrideError) as err:
        to_dotted({"train": 5, "train.learning_rate": 0.2})
    assert "train.learning_rate: its parent train is given as a value, not a section" in err.value.errors


@pytest.mark.parametrize("key", ["", "train.", ".x", "a..b"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(OverrideError):
        to_dotted({key: 1})


def test_deep_merge_applies_every_leaf_and_leaves_inputs_untouched() -> None:
    base = {"train": {"learning_rate": 0.1, "gamma": 0.99}, "env": {"num_drones": 8}}
    override = {"train.learning_rate": 0.2, "env": {"wind": 0.5}}
    merged = deep_merge(base, override)
    assert merged == {"train": {"learning_rate": 0.2, "gamma": 0.99}, "env": {"num_drones": 8, "wind": 0.5}}
    assert base == {"train": {"learning_rate": 0.1, "gamma": 0.99}, "env": {"num_drones": 8}}
    assert override == {"train.learning_rate": 0.2, "env": {"wind": 0.5}}


def test_config_diff_lists_changed_added_and_removed_leaves() -> None:
    old = {"train": {"learning_rate": 0.1, "gamma": 0.99, "seed": 1}}
    new = {"train": {"learning_rate": 0.2, "gamma": 0.99}, "env": {"num_drones": 4}}
    assert config_diff(old, new) == {
        "env.num_drones": {"old": None, "new": 4},
        "train.learning_rate": {"old": 0.1, "new": 0.2},
        "train.seed": {"old": 1, "new": None},
    }


def test_config_diff_sees_bool_versus_int() -> None:
    assert config_diff({"a": {"b": 1}}, {"a": {"b": True}}) == {"a.b": {"old": 1, "new": True}}
    assert config_diff({"a": {"b": 1}}, {"a": {"b": 1.0}}) == {}


def test_hash_is_stable_across_key_order_form_and_int_float_for_float_keys() -> None:
    def is_float(key: str) -> bool:
        return key == "train.learning_rate"

    a = {"train": {"learning_rate": 1, "bptt_horizon": 16}, "env": {"num_drones": 4}}
    b = {"env.num_drones": 4, "train.bptt_horizon": 16, "train.learning_rate": 1.0}
    assert config_hash(a, is_float) == config_hash(b, is_float)
    # For a key not declared float, 16 and 16.0 are different inputs.
    c = {"env.num_drones": 4, "train.bptt_horizon": 16.0, "train.learning_rate": 1.0}
    assert config_hash(c, is_float) != config_hash(b, is_float)
    d = {"env.num_drones": 4, "train.bptt_horizon": 16, "train.learning_rate": 1.5}
    assert config_hash(d, is_float) != config_hash(b, is_float)


def test_parse_json_object_names_line_and_column() -> None:
    with pytest.raises(JSONInputError, match=r"f.json:2:5: not valid JSON"):
        parse_json_object('{"a": 1,\n    }', "f.json")
    with pytest.raises(JSONInputError, match="expected a JSON object, got list"):
        parse_json_object("[1, 2]", "f.json")
