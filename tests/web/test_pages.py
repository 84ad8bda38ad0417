"""The UI's pages and sessions over a test client: sign-in, cookies, CSRF, roles, admin changes
(with their audit events), and the API additions the review page uses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from loopwise import Loopwise
from loopwise.api import create_app
from loopwise.core.enums import Role
from loopwise.services import accounts
from loopwise.web.session import SESSION_COOKIE, csrf_token
from tests.api.conftest import OTHER, PROJECT, Tokens
from tests.factories import sms_rows

pytestmark = pytest.mark.usefixtures("tokens")


@pytest.fixture
def web(served: Loopwise) -> Iterator[TestClient]:
    app = create_app(loopwise=served, deliver_webhooks=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def sign_in(web: TestClient, token: str, next_path: str = "/ui/") -> str:
    """Sign in; the page's CSRF token."""
    r = web.post("/ui/login", data={"token": token, "next": next_path}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = web.get("/ui/")
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


def queue_items(lw: Loopwise, n: int) -> None:
    texts = ["win a free prize now", "see you at lunch", "call now to claim cash"]
    lw.submit(
        PROJECT,
        [
            {"external_id": f"q{i}", "payload": texts[i % 3], "probabilities": [0.5, 0.5]}
            for i in range(n)
        ],
    )


def test_pages_send_a_stranger_to_sign_in_and_back(web: TestClient, tokens: Tokens) -> None:
    r = web.get(f"/ui/projects/{PROJECT}/review", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/ui/login?next=/ui/projects/{PROJECT}/review"
    r = web.post(
        "/ui/login",
        data={"token": tokens.reviewer, "next": f"/ui/projects/{PROJECT}/review"},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/ui/projects/{PROJECT}/review"


def test_the_session_cookie_is_http_only_strict_and_not_the_pasted_token(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    r = web.post("/ui/login", data={"token": tokens.reviewer}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    session = web.cookies[SESSION_COOKIE]
    assert session != tokens.reviewer
    made = [t for t in accounts.list_tokens(served.ctx, "reviewer-1") if t.name == "ui session"]
    assert len(made) == 1
    assert made[0].expires_at is not None


def test_a_wrong_token_is_refused_plainly(web: TestClient) -> None:
    r = web.post("/ui/login", data={"token": "lw_nonsense"})
    assert r.status_code == 401
    assert "was not accepted" in r.text
    assert SESSION_COOKIE not in web.cookies


def test_next_never_leaves_the_ui(web: TestClient, tokens: Tokens) -> None:
    r = web.post(
        "/ui/login",
        data={"token": tokens.reviewer, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui/"


def test_the_api_takes_the_cookie_but_writes_need_the_csrf_token(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    queue_items(served, 2)
    csrf = sign_in(web, tokens.reviewer)
    assert web.get(f"/v1/projects/{PROJECT}/queue/mine").json() == []
    refused = web.post(f"/v1/projects/{PROJECT}/queue/claim", json={})
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "X-CSRF-Token"
    assert web.get(f"/v1/projects/{PROJECT}/queue/mine").json() == []  # nothing claimed
    wrong = web.post(
        f"/v1/projects/{PROJECT}/queue/claim", json={}, headers={"X-CSRF-Token": "0" * 64}
    )
    assert wrong.status_code == 403
    ok = web.post(f"/v1/projects/{PROJECT}/queue/claim", json={}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    held = web.get(f"/v1/projects/{PROJECT}/queue/mine?explain=true").json()
    assert [h["entry"]["task"]["id"] for h in held] == [ok.json()["entry"]["task"]["id"]]
    assert held[0]["explanation"]["label"] == held[0]["entry"]["prediction"]["predicted_label"]
    assert csrf == csrf_token(web.cookies[SESSION_COOKIE])


def test_sign_out_revokes_the_session(web: TestClient, served: Loopwise, tokens: Tokens) -> None:
    csrf = sign_in(web, tokens.reviewer)
    session = web.cookies[SESSION_COOKIE]
    r = web.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/ui/login?reason=signed_out"
    web.cookies.set(SESSION_COOKIE, session)
    again = web.get("/ui/", follow_redirects=False)
    assert again.status_code == 303
    assert "reason=expired" in again.headers["location"]
    api = web.get(f"/v1/projects/{PROJECT}/queue/mine")
    assert api.status_code == 401


def test_sign_out_needs_the_csrf_token(web: TestClient, tokens: Tokens) -> None:
    sign_in(web, tokens.reviewer)
    r = web.post("/ui/logout", data={"csrf": "nope"}, follow_redirects=False)
    assert r.status_code == 403
    assert web.get("/ui/", follow_redirects=False).status_code == 200


def test_pages_follow_the_roles(web: TestClient, tokens: Tokens) -> None:
    sign_in(web, tokens.viewer)
    home = web.get("/ui/")
    assert f"/ui/projects/{PROJECT}/dashboard" in home.text
    assert f"/ui/projects/{PROJECT}/review" not in home.text
    assert OTHER not in home.text
    assert web.get(f"/ui/projects/{PROJECT}/review").status_code == 403
    assert web.get(f"/ui/projects/{PROJECT}/admin").status_code == 403
    assert web.get("/ui/admin/people").status_code == 403
    assert web.get(f"/ui/projects/{PROJECT}/dashboard").status_code == 200


def test_a_reviewer_sees_only_their_projects(web: TestClient, tokens: Tokens) -> None:
    sign_in(web, tokens.outsider)
    r = web.get(f"/ui/projects/{PROJECT}/review")
    assert r.status_code == 403
    assert "not a member" in r.text
    assert web.get(f"/ui/projects/{OTHER}/review").status_code == 200


def test_the_review_page_carries_labels_taxonomy_and_guideline(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    sign_in(web, tokens.reviewer)
    page = web.get(f"/ui/projects/{PROJECT}/review").text
    project = served.project(PROJECT)
    for label in project.labels:
        assert f'"{label}"' in page
    assert project.error_taxonomy[0] in page
    assert "/ui/static/review.js" in page


def test_the_claim_explains_a_linear_model(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    queue_items(served, 1)
    csrf = sign_in(web, tokens.reviewer)
    r = web.post(
        f"/v1/projects/{PROJECT}/queue/claim?explain=true", json={}, headers={"X-CSRF-Token": csrf}
    )
    body = r.json()
    explanation = body["explanation"]
    entry = body["entry"]
    assert explanation["label"] == entry["prediction"]["predicted_label"]
    words = set(entry["item"]["payload"]["text"].split())
    assert explanation["contributions"]
    for c in explanation["contributions"]:
        assert set(c["feature"].split()) <= words
    weights = [abs(c["weight"]) for c in explanation["contributions"]]
    assert weights == sorted(weights, reverse=True)
    plain = web.post(f"/v1/projects/{PROJECT}/queue/claim", json={}, headers={"X-CSRF-Token": csrf})
    assert plain.json()["explanation"] is None


def test_admin_changes_policy_with_validation_and_an_audit_event(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    url = f"/ui/projects/{PROJECT}/admin/policy"
    before = served.project(PROJECT).routing
    bad = web.post(url, data={"csrf": csrf, "action": "save", "policy": "auto_threshold: 7"})
    assert bad.status_code == 422
    assert served.project(PROJECT).routing == before
    text = "auto_threshold: 0.9\n"
    checked = web.post(url, data={"csrf": csrf, "action": "validate", "policy": text})
    assert checked.status_code == 200
    assert "Nothing was saved" in checked.text
    assert served.project(PROJECT).routing == before
    saved = web.post(url, data={"csrf": csrf, "action": "save", "policy": text})
    assert saved.status_code == 200, saved.text
    after = served.project(PROJECT).routing
    assert after.version == before.version + 1
    events = served.audit_events(PROJECT, entity_type="project")
    assert events[-1].action == "project.policy_changed"
    assert events[-1].actor == "admin-1"
    refused = web.post(url, data={"csrf": "x", "action": "save", "policy": text})
    assert refused.status_code == 403
    assert served.project(PROJECT).routing.version == after.version


def test_admin_review_settings_refuse_bad_json(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    url = f"/ui/projects/{PROJECT}/admin/review"
    r = web.post(url, data={"csrf": csrf, "review": "{not json"})
    assert r.status_code == 422
    assert "not valid JSON" in r.text
    r = web.post(url, data={"csrf": csrf, "review": '{"overlap": 99}'})
    assert r.status_code == 422
    assert "review.overlap" in r.text
    r = web.post(url, data={"csrf": csrf, "review": '{"overlap": 2}'})
    assert r.status_code == 200
    assert served.project(PROJECT).review.overlap == 2


def test_admin_models_evaluate_and_promote_through_the_gate(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    page = web.get(f"/ui/projects/{PROJECT}/admin?evaluate=1")
    assert page.status_code == 200
    recorded = served.models(PROJECT)[0].metrics["evaluation"]["holdout"]["candidate"]
    assert f"{recorded['accuracy']:.3f}" in page.text
    assert "Evaluation of v1" in page.text
    r = web.post(
        f"/ui/projects/{PROJECT}/admin/models",
        data={"csrf": csrf, "action": "rollback", "version": "1"},
    )
    assert r.status_code == 409  # nothing to roll back to: said on the page
    assert "error" in r.text


def promote_with_a_pool(
    web: TestClient,
    served: Loopwise,
    tokens: Tokens,
    *,
    labelled: int,
    waiting: int,
    settings: dict[str, Any] | None = None,
) -> tuple[Any, int]:
    """Import ``labelled`` SMS labels into ``OTHER``, add the next ``waiting`` texts to its
    pool, train, and promote the new version from the admin page: the answer and version."""
    served.import_labels(OTHER, sms_rows(labelled))
    candidates = [
        {"external_id": r["external_id"], "payload": r["payload"]}
        for r in sms_rows(waiting, skip=labelled)
    ]
    served.add_to_pool(OTHER, candidates)
    if settings is not None:
        served.set_active_learning(OTHER, settings)
    version = served.train(OTHER).version
    csrf = sign_in(web, tokens.admin)
    answer = web.post(
        f"/ui/projects/{OTHER}/admin/models",
        data={"csrf": csrf, "action": "promote", "version": str(version)},
    )
    return answer, version


def test_admin_promotion_says_what_its_pool_query_queued(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    r, version = promote_with_a_pool(web, served, tokens, labelled=200, waiting=80)
    assert r.status_code == 200
    assert f"Version {version} promoted" in r.text
    assert (
        f"Active learning: default chose 50 of 80 pool candidates with version {version}; "
        "they wait for review"
    ) in r.text
    assert served.pool_status(OTHER).chosen == 50


def test_admin_promotion_whose_pool_query_fails_still_promotes(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    bait = {"strategy": "bait"}  # refuses more than 2,047 TF-IDF columns: 300 texts have more
    r, version = promote_with_a_pool(web, served, tokens, labelled=300, waiting=20, settings=bait)
    assert r.status_code == 200
    assert f"Version {version} promoted" in r.text
    assert "The pool query after it did not run: pool.features: bait needs" in r.text
    assert served.pool_status(OTHER).chosen == 0


def test_admin_active_learning_settings_and_query(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    page = web.get(f"/ui/projects/{PROJECT}/admin")
    assert "The pool is empty" in page.text
    candidates = [
        {"external_id": r["external_id"], "payload": r["payload"]}
        for r in sms_rows(40, prefix="pool")
    ]
    served.add_to_pool(PROJECT, candidates)
    assert (
        "40 candidate(s) wait in the pool; 0 chosen so far."
        in web.get(f"/ui/projects/{PROJECT}/admin").text
    )

    settings = f"/ui/projects/{PROJECT}/admin/active-learning"
    form = {"csrf": csrf, "strategy": "margin", "batch": "7", "explore": "0", "requery": "on"}
    r = web.post(settings, data=form)
    assert r.status_code == 200
    assert "Active-learning settings saved." in r.text
    saved = served.project(PROJECT).active_learning
    assert (saved.strategy, saved.batch, saved.explore) == ("margin", 7, 0.0)
    assert saved.requery_after_promotion is True
    for field, value in (("batch", "many"), ("batch", "0"), ("explore", "1.5"), ("explore", "nan")):
        r = web.post(settings, data={**form, field: value})
        assert r.status_code == 422, (field, value)
        assert f"active_learning.{field}" in r.text
    r = web.post(settings, data={**form, "strategy": "clairvoyance"})
    assert r.status_code == 422
    assert "is not a strategy" in r.text
    assert served.project(PROJECT).active_learning == saved  # nothing half-written
    unticked = {key: value for key, value in form.items() if key != "requery"}
    assert web.post(settings, data=unticked).status_code == 200
    assert served.project(PROJECT).active_learning.requery_after_promotion is False

    query = f"/ui/projects/{PROJECT}/admin/pool/query"
    r = web.post(query, data={"csrf": csrf})
    assert r.status_code == 200
    assert "margin chose 7 of 40 pool candidates with version 1; they wait for review." in r.text
    assert r.text.count("<td>ham</td>") + r.text.count("<td>spam</td>") == 7
    r = web.post(query, data={"csrf": csrf, "n": "3", "strategy": "entropy"})
    assert (
        "entropy chose 3 of 33 pool candidates with version 1, counting 7 items waiting for a "
        "label as picked; they wait for review."
    ) in r.text
    assert served.pool_status(PROJECT).chosen == 10
    for n, field in (("three", "n"), ("100", "n")):
        r = web.post(query, data={"csrf": csrf, "n": n})
        assert r.status_code == 422
        assert f"({field})" in r.text
    r = web.post(query, data={"csrf": csrf, "strategy": "clairvoyance"})
    assert r.status_code == 422
    assert "(strategy)" in r.text
    assert served.pool_status(PROJECT).chosen == 10
    assert web.post(query, data={"n": "1"}).status_code == 403  # no CSRF token
    reviewer = TestClient(web.app)
    reviewer_csrf = sign_in(reviewer, tokens.reviewer)
    assert reviewer.post(query, data={"csrf": reviewer_csrf}).status_code == 403
    assert reviewer.post(settings, data={**form, "csrf": reviewer_csrf}).status_code == 403
    assert served.pool_status(PROJECT).chosen == 10

    remove = f"/ui/projects/{PROJECT}/admin/pool/remove"
    assert (
        'action="/ui/projects/sms/admin/pool/remove"'
        in web.get(f"/ui/projects/{PROJECT}/admin").text
    )
    queued = {entry.item.external_id for entry in served.queue(PROJECT, limit=100)}
    chosen = sorted(queued)[0]
    waiting = next(c["external_id"] for c in candidates if c["external_id"] not in queued)
    r = web.post(remove, data={"csrf": csrf, "ids": f"{waiting}\n{chosen}\n\nnever-added\n"})
    assert r.status_code == 200
    assert (
        "Removed 1 waiting candidate(s) from the pool; 1 chosen by a query stay (items now, in "
        "review); 1 not in the pool." in r.text
    )
    assert served.pool_status(PROJECT).waiting == 29
    for data, field in (({}, "ids"), ({"ids": "pool-1", "everything": "on"}, "everything")):
        r = web.post(remove, data={"csrf": csrf, **data})
        assert r.status_code == 422
        assert f"({field})" in r.text
    assert served.pool_status(PROJECT).waiting == 29
    assert (
        reviewer.post(remove, data={"csrf": reviewer_csrf, "everything": "on"}).status_code == 403
    )
    assert web.post(remove, data={"everything": "on"}).status_code == 403  # no CSRF token
    r = web.post(remove, data={"csrf": csrf, "everything": "on"})
    assert "Removed 29 waiting candidate(s) from the pool; 10 chosen" in r.text
    assert served.pool_status(PROJECT).waiting == 0


def test_admin_training_settings(web: TestClient, served: Loopwise, tokens: Tokens) -> None:
    csrf = sign_in(web, tokens.admin)
    before = served.project(PROJECT).training
    page = web.get(f"/ui/projects/{PROJECT}/admin").text
    assert 'action="/ui/projects/sms/admin/training"' in page
    assert f'name="holdout_share" inputmode="decimal" value="{before.holdout_share}"' in page
    url = f"/ui/projects/{PROJECT}/admin/training"
    form = {
        "csrf": csrf,
        "holdout_share": str(before.holdout_share),
        "golden_share": "0.5",
        "metric": "macro_f1",
        "min_improvement": "0.01",
        "split_seed": "" if before.split_seed is None else str(before.split_seed),
    }
    r = web.post(url, data=form)
    assert r.status_code == 200, r.text
    assert "Training settings saved." in r.text
    saved = served.project(PROJECT).training
    assert (saved.golden_share, saved.metric, saved.min_improvement) == (0.5, "macro_f1", 0.01)
    assert (saved.holdout_share, saved.split_seed) == (before.holdout_share, before.split_seed)
    event = served.audit_events(PROJECT, entity_type="project")[-1]
    assert (event.action, event.actor) == ("project.training_changed", "admin-1")
    assert "<option selected>macro_f1</option>" in r.text
    for field, value in (("golden_share", "half"), ("min_improvement", "nan"), ("metric", "auc")):
        r = web.post(url, data={**form, field: value})
        assert r.status_code == 422, (field, value)
        assert f"(training.{field})" in r.text
    assert served.stats(PROJECT).labels > 0  # the project has labels: the split is fixed
    r = web.post(url, data={**form, "holdout_share": "0.4"})
    assert r.status_code == 409
    assert "is fixed once the project has labels" in r.text
    assert "(training.holdout_share)" in r.text
    assert served.project(PROJECT).training == saved  # nothing half-written
    assert web.post(url, data={**form, "csrf": "x"}).status_code == 403
    reviewer = TestClient(web.app)
    reviewer_csrf = sign_in(reviewer, tokens.reviewer)
    assert reviewer.post(url, data={**form, "csrf": reviewer_csrf}).status_code == 403
    assert served.project(PROJECT).training == saved


def test_admin_people_and_tokens(web: TestClient, served: Loopwise, tokens: Tokens) -> None:
    csrf = sign_in(web, tokens.admin)
    r = web.post(
        "/ui/admin/people",
        data={"csrf": csrf, "name": "bea", "role": "expert", "projects": PROJECT},
    )
    assert r.status_code == 200
    assert served.reviewer("bea").role is Role.EXPERT
    joined = web.post("/ui/admin/members", data={"csrf": csrf, "user": "bea", "project": OTHER})
    assert joined.status_code == 200
    assert set(served.reviewer("bea").projects) == {PROJECT, OTHER}
    unknown = web.post("/ui/admin/members", data={"csrf": csrf, "user": "nobody", "project": OTHER})
    assert unknown.status_code == 422
    bad = web.post("/ui/admin/people", data={"csrf": csrf, "name": "cy", "role": "wizard"})
    assert bad.status_code == 422
    made = web.post("/ui/admin/tokens", data={"csrf": csrf, "user": "bea", "name": "laptop"})
    token = re.search(r'id="new-token">([^<]+)<', made.text)
    assert token is not None
    assert accounts.authenticate(served.ctx, token.group(1)).name == "bea"
    info = next(t for t in accounts.list_tokens(served.ctx, "bea") if t.name == "laptop")
    web.post(f"/ui/admin/tokens/{info.id}/revoke", data={"csrf": csrf})
    assert next(t for t in accounts.list_tokens(served.ctx, "bea") if t.id == info.id).revoked_at
    listing = web.get("/ui/admin/people").text
    assert token.group(1) not in listing


def test_every_page_but_sign_in_needs_a_signed_in_person(web: TestClient) -> None:
    app = web.app
    assert isinstance(app, FastAPI)
    checked = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        template = str(context.path)
        if not isinstance(route, APIRoute) or not template.startswith("/ui"):
            continue
        if template == "/ui/login":
            continue
        path = template.replace("{project}", PROJECT).replace("{token_id}", "1")
        for method in sorted(context.methods or ()):
            r = web.request(method, path, follow_redirects=False)
            assert r.status_code == 303, (method, path)
            assert r.headers["location"].startswith("/ui/login?next=")
            checked += 1
    assert checked >= 12
