"""The policy file format: what load_policy accepts, and refusals that name the line and field."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
from pydantic import ValidationError

from loopwise.core import policy as policy_module
from loopwise.core.policy import (
    AllOf,
    AnyOf,
    Condition,
    OODSpec,
    RoutingConfig,
    RuleSpec,
    dump_policy,
    load_policy,
)
from loopwise.errors import InvalidInput

LABELS = ("ham", "spam", "fraud")


def policy(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def refusal(text: str, labels: tuple[str, ...] = LABELS) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        load_policy(policy(text), labels)
    return info.value


def docstring_example() -> str:
    """The example policy of ``loopwise.core.policy``'s docstring, as a file."""
    doc = policy_module.__doc__
    assert doc is not None
    return textwrap.dedent(doc.split("::\n\n", 1)[1])


class TestTheDocumentedExample:
    def test_is_accepted_whole(self) -> None:
        config = load_policy(docstring_example(), LABELS)
        assert config.version == 1
        assert config.auto_threshold == 0.9
        assert config.target_error == 0.02
        assert config.target_confidence == 0.9
        assert config.delta == pytest.approx(0.1)
        assert config.calibration == "temperature"
        assert config.expert_threshold == 0.5
        assert config.class_thresholds == {"spam": 0.97}
        assert config.always_review == ["fraud"]
        assert config.ood == OODSpec(method="knn", quantile=0.99, route="human", priority="high")
        assert config.qa_sample == 0.02
        assert config.rules == [
            RuleSpec(
                name="large amount",
                when=Condition(field="amount", op=">", value=10000),
                route="human",
                priority="high",
            ),
            RuleSpec(
                name="audit",
                when=Condition(field="requires_audit", op="true"),
                route="expert",
                priority="normal",
            ),
            RuleSpec(
                name="big vip",
                when=AllOf(
                    all=[
                        Condition(field="tier", op="==", value="vip"),
                        Condition(field="amount", op=">=", value=500),
                    ]
                ),
                route="human",
                priority="urgent",
            ),
        ]

    def test_its_class_names_must_be_the_projects(self) -> None:
        with pytest.raises(InvalidInput) as info:
            load_policy(docstring_example(), ("ham", "spam"))
        # always_review: [fraud] is line 7 of the example
        assert info.value.message.startswith("line 7: ")
        assert info.value.field == "always_review[0]"

    def test_an_empty_file_is_the_default_policy(self) -> None:
        assert load_policy("", LABELS) == RoutingConfig()
        assert load_policy("# nothing set\n", LABELS) == RoutingConfig()


class TestConditions:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("amount > 10000", Condition(field="amount", op=">", value=10000)),
            ("amount>=0.5", Condition(field="amount", op=">=", value=0.5)),
            ("amount < -3", Condition(field="amount", op="<", value=-3)),
            ("amount <= 2.5e+3", Condition(field="amount", op="<=", value=2500.0)),
            ("requires_audit", Condition(field="requires_audit", op="true")),
            ("  customer.flagged  ", Condition(field="customer.flagged", op="true")),
            ('tier == "vip"', Condition(field="tier", op="==", value="vip")),
            ("tier != vip", Condition(field="tier", op="!=", value="vip")),
            ('code == "123"', Condition(field="code", op="==", value="123")),
            ("code == 123", Condition(field="code", op="==", value=123)),
            ("country in [FR, DE]", Condition(field="country", op="in", value=["FR", "DE"])),
            ("country not in [FR]", Condition(field="country", op="not in", value=["FR"])),
            ("customer.tier == gold", Condition(field="customer.tier", op="==", value="gold")),
            ("index > 3", Condition(field="index", op=">", value=3)),
        ],
    )
    def test_string_conditions_parse(self, text: str, expected: Condition) -> None:
        assert Condition.model_validate(text) == expected

    @pytest.mark.parametrize("name", ["pinned", "shipping_required", "is_admin_user"])
    def test_a_bare_field_name_containing_in_means_is_true(self, name: str) -> None:
        assert Condition.model_validate(name) == Condition(field=name, op="true")

    def test_structured_conditions(self) -> None:
        config = load_policy(
            policy(
                """
                rules:
                  - name: structured
                    when: {field: amount, op: ">", value: 3}
                  - name: exists
                    when: {field: customer.id, op: exists}
                  - name: all of
                    when:
                      all:
                        - amount > 3
                        - {field: country, op: in, value: [FR, DE]}
                  - name: any of
                    when:
                      any: [requires_audit, {field: tier, op: missing}]
                """
            ),
            LABELS,
        )
        assert [rule.when for rule in config.rules] == [
            Condition(field="amount", op=">", value=3),
            Condition(field="customer.id", op="exists"),
            AllOf(
                all=[
                    Condition(field="amount", op=">", value=3),
                    Condition(field="country", op="in", value=["FR", "DE"]),
                ]
            ),
            AnyOf(
                any=[
                    Condition(field="requires_audit", op="true"),
                    Condition(field="tier", op="missing"),
                ]
            ),
        ]
        assert [rule.route for rule in config.rules] == ["human"] * 4
        assert [rule.priority for rule in config.rules] == ["normal"] * 4

    def test_booleans_are_not_numbers(self) -> None:
        with pytest.raises(ValidationError, match="compares with a number"):
            Condition(field="amount", op=">", value=True)


class TestRefusalsNameTheLineAndTheField:
    @pytest.mark.parametrize(
        ("text", "line", "field", "words"),
        [
            pytest.param(
                """
                auto_threshold: 0.8
                auto_treshold: 0.7
                """,
                2,
                "auto_treshold",
                "unknown field 'auto_treshold'",
                id="unknown-top-level-field",
            ),
            pytest.param(
                """
                qa_sample: 0.1
                rules:
                  - name: big
                    when: amount > 3
                    colour: red
                """,
                5,
                "rules[0].colour",
                "unknown field 'colour'",
                id="unknown-field-in-a-rule",
            ),
            pytest.param(
                """
                ood:
                  method: knn
                  quantil: 0.9
                """,
                3,
                "ood.quantil",
                "unknown field 'quantil'",
                id="unknown-field-in-ood",
            ),
            pytest.param(
                """
                rules:
                  - name: big
                    when: amount >> 3
                """,
                3,
                "rules[0].when",
                "cannot read condition 'amount >> 3'",
                id="invalid-operator-in-a-string",
            ),
            pytest.param(
                """
                rules:
                  - name: regex
                    when:
                      field: text
                      op: "=~"
                      value: spam
                """,
                5,
                "rules[0].when.op",
                "'=~' is not allowed",
                id="invalid-structured-operator",
            ),
            pytest.param(
                """
                rules:
                  - name: big
                    when: amount > big
                """,
                3,
                "rules[0].when",
                "'>' compares with a number, not 'big'",
                id="greater-than-a-word",
            ),
            pytest.param(
                """
                rules:
                  - name: big
                    when: {field: amount, op: "<=", value: "3"}
                """,
                3,
                "rules[0].when",
                "'<=' compares with a number, not '3'",
                id="at-most-a-string",
            ),
            pytest.param(
                """
                rules:
                  - name: country
                    when: country in FR
                """,
                3,
                "rules[0].when",
                "'in' needs a list of values, not 'FR'",
                id="in-a-word",
            ),
            pytest.param(
                """
                rules:
                  - name: country
                    when: {field: country, op: not in, value: FR}
                """,
                3,
                "rules[0].when",
                "'not in' needs a list of values",
                id="not-in-a-word",
            ),
            pytest.param("auto_threshold: 1.5\n", 1, "auto_threshold", "less than or equal to 1"),
            pytest.param(
                "calibration: none\nauto_threshold: -0.1\n",
                2,
                "auto_threshold",
                "greater than or equal to 0",
            ),
            pytest.param("target_error: 0\n", 1, "target_error", "greater than 0"),
            pytest.param("target_error: 1\n", 1, "target_error", "less than 1"),
            pytest.param("target_confidence: 0\n", 1, "target_confidence", "greater than 0"),
            pytest.param("target_confidence: 1\n", 1, "target_confidence", "less than 1"),
            pytest.param("qa_sample: 1\n", 1, "qa_sample", "less than 1"),
            pytest.param("version: 0\n", 1, "version", "greater than or equal to 1"),
            pytest.param(
                "calibration: platt\n",
                1,
                "calibration",
                "'platt' is not allowed",
                id="unknown-calibration",
            ),
            pytest.param(
                """
                rules:
                  - name: same
                    when: a
                  - name: same
                    when: b
                """,
                2,  # the line the rules list starts on
                "rules",
                "rule name 'same' is used twice",
                id="duplicate-rule-names",
            ),
            pytest.param(
                """
                rules:
                  - name: audit
                    when: requires_audit
                    route: robot
                """,
                4,
                "rules[0].route",
                "'robot' is not allowed",
                id="unknown-route",
            ),
        ],
    )
    def test_schema_refusals(self, text: str, line: int, field: str, words: str) -> None:
        error = refusal(text)
        assert error.message.startswith(f"line {line}: "), error.message
        assert error.field == field
        assert words in error.message

    def test_an_error_deep_in_an_all_names_its_line(self) -> None:
        error = refusal(
            """
            rules:
              - name: nested
                when:
                  all:
                    - amount > 3
                    - tier >> 2
            """
        )
        assert error.message.startswith("line 6: cannot read condition 'tier >> 2'")
        assert error.field is not None
        assert error.field.startswith("rules[0].when")

    def test_the_path_into_an_all_keeps_the_all(self) -> None:
        error = refusal(
            """
            rules:
              - name: nested
                when:
                  all:
                    - amount > 3
                    - tier >> 2
            """
        )
        assert error.field == "rules[0].when.all[1]"

    @pytest.mark.parametrize(
        ("text", "line", "field"),
        [
            (
                """
                auto_threshold: 0.9
                class_thresholds:
                  spam: 0.97
                  phishing: 0.99
                """,
                4,
                "class_thresholds.phishing",
            ),
            ("class_thresholds: {spam: 0.9, phishing: 0.99}\n", 1, "class_thresholds.phishing"),
            (
                """
                always_review:
                  - fraud
                  - phishing
                """,
                3,
                "always_review[1]",
            ),
            ("qa_sample: 0.1\nalways_review: [phishing]\n", 2, "always_review[0]"),
        ],
    )
    def test_unknown_classes(self, text: str, line: int, field: str) -> None:
        error = refusal(text)
        assert error.message == (
            f"line {line}: 'phishing' is not a label of this project ['ham', 'spam', 'fraud']"
        )
        assert error.field == field

    def test_expert_threshold_above_auto_threshold(self) -> None:
        error = refusal("auto_threshold: 0.8\nexpert_threshold: 0.9\n")
        assert "must not be above auto_threshold (0.8)" in error.message
        assert error.message.startswith("line ")

    def test_expert_threshold_above_auto_threshold_names_the_field(self) -> None:
        error = refusal("auto_threshold: 0.8\nexpert_threshold: 0.9\n")
        assert error.field == "expert_threshold"
        assert error.message.startswith("line 2: ")

    def test_invalid_yaml(self) -> None:
        error = refusal(
            """
            auto_threshold: 0.9
            always_review: [fraud
            """
        )
        assert error.field == "policy"
        assert error.message.startswith("line ")
        assert "not valid YAML or JSON" in error.message

    def test_a_tab_indent_is_invalid_yaml_on_its_line(self) -> None:
        error = refusal("auto_threshold: 0.9\nood:\n\tmethod: knn\n")
        assert error.field == "policy"
        assert error.message.startswith("line 3: not valid YAML or JSON")

    @pytest.mark.parametrize("text", ["- auto_threshold\n", "0.9\n", '"auto"\n'])
    def test_a_policy_must_be_a_mapping(self, text: str) -> None:
        error = refusal(text)
        assert error.field == "policy"
        assert error.message == "line 1: a policy is a mapping of settings"


class TestJSON:
    def test_json_is_yaml(self) -> None:
        data: dict[str, Any] = {
            "auto_threshold": 0.8,
            "always_review": ["fraud"],
            "rules": [{"name": "big", "when": "amount > 3", "priority": "high"}],
        }
        config = load_policy(json.dumps(data, indent=2), LABELS)
        assert config.auto_threshold == 0.8
        assert config.always_review == ["fraud"]
        assert config.rules[0].when == Condition(field="amount", op=">", value=3)

    def test_an_error_on_line_two_of_a_json_policy(self) -> None:
        text = '{\n  "auto_threshold": 2,\n  "qa_sample": 0.1\n}\n'
        with pytest.raises(InvalidInput) as info:
            load_policy(text, LABELS)
        assert info.value.message.startswith("line 2: ")
        assert info.value.field == "auto_threshold"

    def test_an_unknown_key_on_line_three_of_a_json_policy(self) -> None:
        text = '{"auto_threshold": 0.9,\n "qa_sample": 0.1,\n "bogus": true}\n'
        with pytest.raises(InvalidInput) as info:
            load_policy(text, LABELS)
        assert info.value.message == "line 3: unknown field 'bogus'"
        assert info.value.field == "bogus"

    def test_to_json_and_from_json_round_trip(self) -> None:
        config = load_policy(docstring_example(), LABELS)
        assert RoutingConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


class TestDumpAndVersion:
    def test_dump_round_trips_the_documented_example(self) -> None:
        config = load_policy(docstring_example(), LABELS)
        assert load_policy(dump_policy(config), LABELS) == config

    def test_dump_round_trips_values_yaml_would_reinterpret(self) -> None:
        config = load_policy(
            policy(
                """
                ood: null
                rules:
                  - name: tricky
                    when:
                      any:
                        - flag == "yes"
                        - code == "123"
                        - x == "null"
                        - y in ["on", "off", 1.5]
                        - z not in [a]
                """
            ),
            LABELS,
        )
        assert config.ood is None
        assert isinstance(config.rules[0].when, AnyOf)
        assert [c.value for c in config.rules[0].when.any] == [
            "yes",
            "123",
            "null",
            ["on", "off", 1.5],
            ["a"],
        ]
        assert load_policy(dump_policy(config), LABELS) == config

    def test_dump_starts_with_the_version(self) -> None:
        text = dump_policy(RoutingConfig(version=4, auto_threshold=0.75))
        assert text.splitlines()[:2] == ["version: 4", "auto_threshold: 0.75"]

    def test_the_version_argument_overrides_the_file(self) -> None:
        assert load_policy("version: 2\nauto_threshold: 0.8\n", LABELS, version=9).version == 9
        assert load_policy("auto_threshold: 0.8\n", LABELS, version=3).version == 3
        assert load_policy("version: 2\n", LABELS).version == 2

    def test_the_version_argument_is_validated_too(self) -> None:
        with pytest.raises(InvalidInput) as info:
            load_policy("auto_threshold: 0.8\n", LABELS, version=0)
        assert info.value.field == "version"
