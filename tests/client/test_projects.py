"""Projects, accounts and operations against the real service, and how it refuses."""

from __future__ import annotations

import pytest

from loopwise import RoutingConfig, TrainingConfig
from loopwise.client import ApiError, Client
from loopwise.core.enums import InputKind, Role
from loopwise.errors import (
    Conflict,
    DuplicateProject,
    InvalidInput,
    NotAllowed,
    ProjectNotFound,
    Unauthenticated,
)
from tests.client.conftest import OTHER, PROJECT, Connect, Space, World, api


class TestOperations:
    def test_health_and_ready_need_no_token(self, base_url: str) -> None:
        with Client(base_url, None) as anonymous:
            assert anonymous.health()["status"] == "ok"
            ready = anonymous.ready()
        assert ready["status"] == "ready"
        assert ready["migration"] == ready["expected"]


class TestMe:
    def test_a_reviewer_sees_its_role_and_projects(self, connect: Connect, space: Space) -> None:
        me = connect("reviewer").me()
        assert (me.name, me.role, me.projects) == (
            space.account("reviewer"),
            Role.REVIEWER,
            (space.name,),
        )

    def test_an_unknown_token_is_unauthenticated(self, connect: Connect) -> None:
        with pytest.raises(Unauthenticated) as caught:
            connect(token="lw_not-a-token").me()
        assert isinstance(caught.value, ApiError)
        assert (api(caught.value).status, api(caught.value).code) == (401, "unauthenticated")

    def test_no_token_is_unauthenticated(self, base_url: str) -> None:
        with Client(base_url, None) as anonymous, pytest.raises(Unauthenticated):
            anonymous.projects()


class TestProjects:
    def test_create_read_and_list(self, connect: Connect, world: World, space: Space) -> None:
        admin = connect("admin")
        loans = f"{space.name}-loans"
        made = admin.create_project(
            loans,
            ["repaid", "default"],
            input_kind="tabular",
            feature_names=["age", "income"],
            routing=RoutingConfig(auto_threshold=0.8, ood=None),
            review={"overlap": 2},
            guideline="Look at the debt.",
            training=TrainingConfig(min_improvement=0.01),
        )
        assert made.name == loans
        assert made.labels == ("repaid", "default")
        assert made.input_kind is InputKind.TABULAR
        assert made.feature_names == ("age", "income")
        assert made.routing["auto_threshold"] == 0.8
        assert made.review["overlap"] == 2
        assert made.training == TrainingConfig(min_improvement=0.01).to_json()
        assert made.guideline == "Look at the debt."
        assert "ambiguous_input" in made.error_taxonomy
        assert made.created_at is not None
        assert admin.project(loans) == made
        listed = sorted(p.name for p in admin.projects())
        assert listed == sorted(p.name for p in world.lw.projects())  # every project
        assert {loans, OTHER, PROJECT, space.name} <= set(listed)

    def test_members_list_only_their_projects(self, connect: Connect, space: Space) -> None:
        assert [p.name for p in connect("viewer").projects()] == [space.name]
        assert [p.name for p in connect("outsider").projects()] == [OTHER]

    def test_a_taken_name_is_a_conflict(self, connect: Connect, space: Space) -> None:
        with pytest.raises(DuplicateProject) as caught:
            connect("admin").create_project(space.name, ["a", "b"])
        assert api(caught.value).status == 409

    def test_a_missing_project_is_not_found(self, connect: Connect) -> None:
        with pytest.raises(ProjectNotFound) as caught:
            connect("admin").project("nope")
        assert api(caught.value).status == 404

    def test_only_admins_create_projects(self, connect: Connect) -> None:
        with pytest.raises(NotAllowed) as caught:
            connect("client").create_project("mine", ["a", "b"])
        assert api(caught.value).status == 403
        assert caught.value.field is None

    def test_outsiders_may_not_read_a_project(self, connect: Connect, space: Space) -> None:
        with pytest.raises(NotAllowed) as caught:
            connect("outsider").project(space.name)
        assert (api(caught.value).status, caught.value.field) == (403, "project")

    def test_set_policy_and_review_config(self, connect: Connect, space: Space) -> None:
        admin = connect("admin")
        policy = {**admin.project(space.name).routing, "auto_threshold": 0.9}
        assert admin.set_policy(space.name, policy).routing["auto_threshold"] == 0.9
        again = admin.set_policy(space.name, RoutingConfig(auto_threshold=0.6, ood=None))
        assert again.routing["auto_threshold"] == 0.6
        changed = admin.set_review_config(space.name, {"undo_seconds": 30})
        assert changed.review["undo_seconds"] == 30
        assert admin.project(space.name) == changed

    def test_set_training_config_and_its_refusals(
        self, connect: Connect, world: World, space: Space
    ) -> None:
        admin = connect("admin")
        changed = admin.set_training_config(space.name, {"metric": "macro_f1"})
        assert changed.training == TrainingConfig(metric="macro_f1").to_json()
        assert admin.project(space.name) == changed
        with pytest.raises(InvalidInput) as bad:
            admin.set_training_config(space.name, {"holdout_share": 2})
        assert (api(bad.value).status, bad.value.field) == (422, "holdout_share")
        with pytest.raises(NotAllowed):
            connect("reviewer").set_training_config(space.name, {})
        world.lw.import_labels(space.name, [{"payload": "a text", "label": "ham"}])
        with pytest.raises(Conflict) as fixed:
            admin.set_training_config(space.name, {"metric": "macro_f1", "split_seed": 1})
        assert (api(fixed.value).status, fixed.value.field) == (409, "split_seed")
        assert admin.project(space.name).training == changed.training

    def test_a_bad_policy_names_its_field(self, connect: Connect, space: Space) -> None:
        from loopwise.errors import InvalidInput

        with pytest.raises(InvalidInput) as caught:
            connect("admin").set_policy(space.name, {"auto_threshold": 7})
        assert api(caught.value).status == 422
        assert caught.value.field is not None
        assert "auto_threshold" in caught.value.field
