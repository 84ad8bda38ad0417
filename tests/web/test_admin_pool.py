"""The admin's pool page (``loopwise.web.admin_pool``) over a test client: the candidates a page
at a time, removing the ticked, and adding candidates from an uploaded file."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from loopwise import Loopwise
from loopwise.errors import NotEnoughInPool
from tests.api.conftest import PROJECT, Tokens
from tests.factories import sms_rows
from tests.web.test_pages import sign_in, web

pytestmark = pytest.mark.usefixtures("tokens")
__all__ = ["web"]


def test_admin_pool_page_lists_candidates_a_page_at_a_time_and_removes_the_ticked(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    page = f"/ui/projects/{PROJECT}/admin/pool"
    assert "No waiting candidates." in web.get(page).text
    rows = sms_rows(60, prefix="pool")
    served.add_to_pool(
        PROJECT, [{"external_id": r["external_id"], "payload": r["payload"]} for r in rows]
    )
    assert (
        f'href="/ui/projects/{PROJECT}/admin/pool"' in web.get(f"/ui/projects/{PROJECT}/admin").text
    )

    first = web.get(page)
    assert first.status_code == 200
    listed = re.findall(r'name="picked" value="([^"]+)"', first.text)
    assert listed == [r["external_id"] for r in rows[:50]]
    assert " ".join(rows[0]["payload"].split())[:100] in first.text
    after = re.search(r'href="\?state=waiting&amp;after=(\d+)"', first.text)
    assert after is not None
    second = web.get(page, params={"after": after.group(1)})
    assert re.findall(r'name="picked" value="([^"]+)"', second.text) == [
        r["external_id"] for r in rows[50:]
    ]
    assert "Next " not in second.text

    ticked = {"csrf": csrf, "state": "waiting", "after": "", "picked": listed[:3]}
    r = web.post(page, data=ticked)
    assert r.status_code == 200
    assert "Removed 3 waiting candidate(s) from the pool." in r.text
    assert re.findall(r'name="picked" value="([^"]+)"', r.text)[:2] == listed[3:5]
    assert served.pool_status(PROJECT).waiting == 57
    removal = [e for e in served.audit_events(PROJECT) if e.action == "pool.removed"][-1]
    assert (removal.actor, (removal.after or {}).get("removed")) == ("admin-1", 3)

    served.query(PROJECT, 2, strategy="random", seed=1)
    chosen = web.get(page, params={"state": "chosen"})
    assert len(re.findall(r"<tr>", chosen.text)) == 2 + 1  # with the header's row
    assert "(an item now)" in chosen.text
    assert 'name="picked"' not in chosen.text  # a chosen candidate is an item: it stays
    everything = web.get(page, params={"state": "all"})
    first_all = served.pool_candidates(PROJECT, state="all", limit=50)
    assert re.findall(r'name="picked" value="([^"]+)"', everything.text) == [
        c.external_id for c in first_all if c.item_id is None
    ]
    assert everything.text.count("(an item now)") == 50 - sum(c.item_id is None for c in first_all)

    r = web.post(page, data={"csrf": csrf, "state": "waiting"})
    assert r.status_code == 422
    assert "(picked)" in r.text
    for params, field in (({"state": "pending"}, "state"), ({"after": "x"}, "after")):
        r = web.get(page, params=params)
        assert r.status_code == 422, params
        assert field in r.text
    assert web.post(page, data={**ticked, "csrf": ""}).status_code == 403
    reviewer = TestClient(web.app)
    reviewer_csrf = sign_in(reviewer, tokens.reviewer)
    assert reviewer.get(page).status_code == 403
    assert reviewer.post(page, data={**ticked, "csrf": reviewer_csrf}).status_code == 403
    assert served.pool_status(PROJECT).waiting == 55


def test_a_candidate_a_query_set_aside_is_listed_with_the_item_that_holds_its_payload(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    sign_in(web, tokens.admin)
    rows = sms_rows(3, prefix="pool")
    served.add_to_pool(
        PROJECT, [{"external_id": r["external_id"], "payload": r["payload"]} for r in rows]
    )
    served.import_labels(
        PROJECT, [{"external_id": "gold-1", "payload": rows[0]["payload"], "label": "ham"}]
    )
    with pytest.raises(NotEnoughInPool):
        served.query(PROJECT, 3, strategy="random", seed=1)  # 2 left once it is set aside
    gold = next(c for c in served.pool_candidates(PROJECT, state="chosen"))
    assert gold.external_id == rows[0]["external_id"]
    chosen = web.get(f"/ui/projects/{PROJECT}/admin/pool", params={"state": "chosen"})
    assert f"not chosen: item {gold.item_id} holds the same payload" in chosen.text
    assert 'name="picked"' not in chosen.text


def upload(web: TestClient, csrf: str, name: str, data: bytes) -> tuple[int, str]:
    r = web.post(
        f"/ui/projects/{PROJECT}/admin/pool/add",
        data={"csrf": csrf},
        files={"file": (name, data, "application/octet-stream")},
    )
    return r.status_code, r.text


def test_admin_adds_candidates_from_an_uploaded_file(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    settings = web.get(f"/ui/projects/{PROJECT}/admin").text
    assert (
        f'href="/ui/projects/{PROJECT}/admin/pool#add-title">Add candidates from a file' in settings
    )
    page = web.get(f"/ui/projects/{PROJECT}/admin/pool").text
    assert f'action="/ui/projects/{PROJECT}/admin/pool/add"' in page
    assert 'enctype="multipart/form-data"' in page
    assert "Up to 10,000 rows at once" in page

    # a spreadsheet's CSV: a byte-order mark, a label column (ignored), a column of metadata
    sheet = "external_id,text,label,channel\nu1,win a prize now,spam,sms\nu2,lunch at noon?,,web\n"
    status, text = upload(web, csrf, "pool.csv", ("\ufeff" + sheet).encode())
    assert status == 200, text
    assert "Added 2 new candidate(s) from pool.csv." in text
    listed = {c.external_id: c for c in served.pool_candidates(PROJECT, state="all")}
    assert set(listed) == {"u1", "u2"}
    assert (listed["u1"].payload, listed["u1"].metadata) == (
        {"text": "win a prize now"},
        {"channel": "sms"},
    )
    added = [e for e in served.audit_events(PROJECT) if e.action == "pool.added"]
    assert [(e.actor, (e.after or {}).get("added")) for e in added] == [("admin-1", 2)]

    status, text = upload(web, csrf, "pool.csv", sheet.encode())
    assert status == 200
    assert "Added 0 new candidate(s) from pool.csv; the other 2 were in the pool already." in text

    lines = b'{"text": "free entry to win"}\n\n{"payload": "see you soon", "metadata": {"n": 1}}\n'
    status, text = upload(web, csrf, "more.JSONL", lines)
    assert status == 200, text
    assert "Added 2 new candidate(s) from more.JSONL." in text
    named = [c for c in served.pool_candidates(PROJECT, state="all") if c.external_id not in listed]
    assert [c.payload["text"] for c in named] == ["free entry to win", "see you soon"]
    assert all(c.external_id.startswith("sha256:") for c in named)
    assert served.pool_status(PROJECT).waiting == 4


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        # u1 is in the pool with another text: the whole file is refused, named by its line
        (
            "clash.csv",
            b"external_id,text\nfresh,a new text\nu1,another text\n",
            "clash.csv:3:external_id",
        ),
        ("bad.jsonl", b'{"text": "fine"}\n[1, 2]\n', "bad.jsonl:2"),
        ("columns.csv", b"external_id,body\nx,hello\n", "columns.csv:2"),
        ("pool.txt", b"text\nhello\n", "file"),
        ("latin.csv", "text\ncaf\u00e9\n".encode("latin-1"), "latin.csv"),
        ("", b"", "file"),
    ],
)
def test_an_upload_refused_names_the_file_or_line_and_adds_nothing(
    web: TestClient, served: Loopwise, tokens: Tokens, name: str, data: bytes, field: str
) -> None:
    csrf = sign_in(web, tokens.admin)
    served.add_to_pool(PROJECT, [{"external_id": "u1", "payload": "win a prize now"}])
    if name:
        status, text = upload(web, csrf, name, data)
    else:  # the form sent without choosing a file
        r = web.post(f"/ui/projects/{PROJECT}/admin/pool/add", data={"csrf": csrf})
        status, text = r.status_code, r.text
    assert status in (409, 422), text
    assert f"({field})" in text
    assert [c.external_id for c in served.pool_candidates(PROJECT, state="all")] == ["u1"]


def test_a_file_beyond_the_batch_limit_is_sent_to_the_cli_and_only_admins_upload(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    rows = "".join(f"t{i},text number {i}\n" for i in range(10_001))
    status, text = upload(web, csrf, "big.csv", f"external_id,text\n{rows}".encode())
    assert status == 422
    assert "has more than 10,000 rows, what the page adds at once" in text
    assert f"loopwise pool add {PROJECT} FILE" in text
    assert served.pool_status(PROJECT).waiting == 0

    small = b"text\nhello there\n"
    r = web.post(
        f"/ui/projects/{PROJECT}/admin/pool/add", files={"file": ("a.csv", small, "text/csv")}
    )
    assert r.status_code == 403  # no CSRF token
    reviewer = TestClient(web.app)
    reviewer_csrf = sign_in(reviewer, tokens.reviewer)
    assert upload(reviewer, reviewer_csrf, "a.csv", small)[0] == 403
    assert served.pool_status(PROJECT).waiting == 0


def test_a_hand_made_form_that_fails_validation_gets_a_page_naming_the_field(
    web: TestClient, served: Loopwise, tokens: Tokens
) -> None:
    csrf = sign_in(web, tokens.admin)
    page = f"/ui/projects/{PROJECT}/admin/pool"
    served.add_to_pool(
        PROJECT, [{"external_id": f"c{i}", "payload": f"text {i}"} for i in range(60)]
    )
    picks = {"csrf": csrf, "state": "waiting", "picked": [f"c{i}" for i in range(51)]}
    r = web.post(page, data=picks)  # the page lists 50; a form made by hand ticks 51
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert "That did not work" in r.text
    assert "(picked)" in r.text
    long = web.post(f"{page}/add", data={"csrf": csrf, "file": "x" * 400})
    assert long.status_code == 422
    assert long.headers["content-type"].startswith("text/html")
    assert "(file)" in long.text
    assert served.pool_status(PROJECT).waiting == 60
    api = TestClient(web.app).post(  # the API's own paths keep their JSON answer
        f"/v1/projects/{PROJECT}/pool",
        json={"items": "not a list"},
        headers={"Authorization": f"Bearer {tokens.admin}"},
    )
    assert api.status_code == 422
    assert api.json()["error"]["field"] == "items"
