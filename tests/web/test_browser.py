"""The UI in a real browser (Debian's Chromium through Playwright) against a real server.

A reviewer signs in and reviews ten tasks by keyboard alone, undoing one and escalating one;
the verdicts and audit events are read back from the database. An expert resolves the
escalation seeing the earlier review. The dashboard draws its charts with the seeded
project's numbers. Each page is saved as a screenshot under ``test-artifacts/ui/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from loopwise import Loopwise, Settings
from loopwise.core.enums import Role
from loopwise.services import accounts
from loopwise.store.tables import AuditEventRow, LabelRow, ReviewRow, ReviewTaskRow
from tests.factories import make_text_project, seeded_model
from tests.web.browser import (
    ARTIFACTS,
    chromium,
    chromium_path,
    live_server,
    sign_in,
    wait_for_task,
)

if chromium_path() is None:
    if os.environ.get("LOOPWISE_TEST_BROWSER") == "required":
        raise RuntimeError("the browser tests need Debian's chromium (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

PROJECT = "sms"
TEXTS = [
    "WINNER! claim your free prize now, call 09061701461",
    "are we still on for lunch tomorrow?",
    "URGENT your mobile number has won cash, text CLAIM to 81010",
    "sorry, running late, see you at the station",
    "free entry in a weekly competition to win tickets",
    "can you pick up milk on the way home",
    "you have been selected for a guaranteed loan, reply YES",
    "happy birthday! hope you have a lovely day",
    "final notice: your account will be closed, call now",
    "thanks for dinner last night, it was great",
    "congratulations, you won a holiday, call to claim",
    "meeting moved to 3pm, same room",
    "txt STOP to end free ringtone offers",
    "did you get my email about the report?",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Loopwise, str, dict[str, str]]]:
    """A project with a production model and fourteen items waiting for review; a reviewer,
    an expert and an admin with their tokens; a live server."""
    lw = Loopwise(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'ui.db'}"))
    make_text_project(
        lw, PROJECT, guideline="Spam offers money, prizes or services nobody asked for."
    )
    seeded_model(lw, PROJECT)
    lw.submit(
        PROJECT,
        [
            {"external_id": f"m{i:02d}", "payload": t, "probabilities": [0.55, 0.45]}
            for i, t in enumerate(TEXTS)
        ],
    )
    tokens = {}
    for name, role in (("rita", Role.REVIEWER), ("ed", Role.EXPERT), ("ada", Role.ADMIN)):
        lw.add_reviewer(name, role=role, projects=[PROJECT])
        tokens[name] = accounts.create_token(lw.ctx, name)[0]
    with live_server(lw) as base:
        yield lw, base, tokens
    lw.close()


UNLABELLED = """() => [...document.querySelectorAll(
    "input:not([type=hidden]), textarea, select, button, a[href]")]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !(el.textContent || "").trim())
  .map((el) => el.outerHTML.slice(0, 80))"""


def accessible(page: Any) -> None:
    """Every control has a name (a label, aria-label or text) and the page has one h1 and a
    main landmark."""
    assert page.evaluate(UNLABELLED) == []
    assert page.locator("h1").count() == 1
    assert page.locator("main").count() == 1


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rows(lw: Loopwise, statement: Any) -> list[Any]:
    with lw.ctx.read() as tx:
        return list(tx.session.scalars(statement).all())


# Keys for ten tasks (1 = ham, the suggestion; 2 = spam). After the fourth ("r") comes U,
# which brings that task back, and it is judged again with "2".
KEYS = ["Enter", "2", "a", "r", "1", "e", "Enter", "2", "a", "Enter"]
FINAL = [
    ("approve", "ham"),
    ("correct", "spam"),
    ("approve", "ham"),
    ("correct", "spam"),
    ("approve", "ham"),
    ("escalate", None),
    ("approve", "ham"),
    ("correct", "spam"),
    ("approve", "ham"),
    ("approve", "ham"),
]


def test_review_ten_by_keyboard_undo_one_escalate_one_then_the_expert(
    browser: Any, site: tuple[Loopwise, str, dict[str, str]]
) -> None:
    lw, base, tokens = site
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    review_path = f"/ui/projects/{PROJECT}/review"
    sign_in(page, base, tokens["rita"], review_path)
    shown = wait_for_task(page)
    assert page.locator("#item mark").count() > 0  # the model's words are marked
    assert "Model suggests" in page.locator("#suggestion").inner_text()
    assert "Spam offers money" in page.locator(".guideline-text").inner_text()
    accessible(page)
    shot(page, "review")
    page.keyboard.press("?")
    assert page.locator("#keys").is_visible()
    shot(page, "review-keys")
    page.keyboard.press("?")
    assert not page.locator("#keys").is_visible()

    order: list[int] = []
    for i, key in enumerate(KEYS):
        order.append(int(shown))
        if i == 3:  # tag the error of the rejected one, by keyboard too
            page.keyboard.press("Shift+Digit2")
            assert page.locator("#error-tags button[aria-pressed=true]").count() == 1
        page.keyboard.press(key)
        shown = wait_for_task(page, not_id=shown)
        if i == 3:
            page.keyboard.press("u")
            back = wait_for_task(page, not_id=shown)
            assert int(back) == order[3]
            assert page.locator("#highlight-legend").is_visible()  # explained again
            page.keyboard.press("2")
            shown = wait_for_task(page, not_id=back)
    assert page.locator("#session-count").inner_text() == "10"

    reviews = rows(lw, select(ReviewRow).where(ReviewRow.reviewer == "rita").order_by(ReviewRow.id))
    by_task = {r.task_id: r for r in reviews}
    assert len(reviews) == 10
    assert [(by_task[t].verdict, by_task[t].label) for t in order] == FINAL
    assert by_task[order[3]].error_category is None  # the tag went with the undone verdict
    events = rows(
        lw,
        select(AuditEventRow.action).where(
            AuditEventRow.actor == "rita", AuditEventRow.action.like("review.%")
        ),
    )
    assert events.count("review.submitted") == 11
    assert events.count("review.undone") == 1
    labels = rows(lw, select(LabelRow).where(LabelRow.source == "reviewer"))
    assert len(labels) == 9  # every task but the escalated one resolved with one review

    # Leaving the page gives back what the reviewer still held (the prefetched task): the
    # page sends the release as it goes, and the server may answer it a moment later (it
    # took over 300 ms once, beside the rest of the suite). Leave once its claim of the next
    # task has been answered, so the page gives that task back by its id; a claim still in
    # flight is given back by its key (test_a_claim_in_flight_when_the_page_is_left_...).
    page.wait_for_function("() => !document.body.dataset.claiming")
    assert page.evaluate("document.body.dataset.taskId") == shown
    page.goto(f"{base}/ui/")
    still_held = select(ReviewTaskRow.id).where(
        ReviewTaskRow.claimed_by == "rita", ReviewTaskRow.status == "claimed"
    )
    deadline = time.monotonic() + 10
    while (held := rows(lw, still_held)) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert held == []
    page.close()

    expert = browser.new_page(viewport={"width": 1366, "height": 768})
    sign_in(expert, base, tokens["ed"], review_path)
    wait_for_task(expert)
    assert "Expert review" in expert.locator("#task-meta").inner_text()
    earlier = expert.locator("#earlier")
    assert earlier.is_visible()
    assert "rita" in earlier.inner_text()
    assert "escalate" in earlier.inner_text()
    shot(expert, "review-expert")
    escalated_item = rows(lw, select(ReviewRow.item_id).where(ReviewRow.verdict == "escalate"))[0]
    expert.keyboard.press("2")
    expert.wait_for_function(
        "() => !document.body.dataset.busy && document.getElementById('session-count')"
        ".textContent === '1'"
    )
    final = rows(lw, select(LabelRow).where(LabelRow.item_id == escalated_item))
    assert [(f.value, f.source) for f in final] == [("spam", "expert")]
    expert.close()


def test_the_page_says_so_when_the_session_ends(
    browser: Any, site: tuple[Loopwise, str, dict[str, str]]
) -> None:
    lw, base, tokens = site
    page = browser.new_page()
    sign_in(page, base, tokens["rita"], f"/ui/projects/{PROJECT}/review")
    shown = wait_for_task(page)
    for info in accounts.list_tokens(lw.ctx, "rita"):
        if info.name == "ui session":
            accounts.revoke_token(lw.ctx, info.id)
    page.keyboard.press("Enter")
    banner = page.locator("#banner")
    banner.wait_for(state="visible")
    assert "session has ended" in banner.inner_text()
    assert page.evaluate("document.body.dataset.taskId") == shown
    assert rows(lw, select(ReviewRow)) == []  # nothing recorded
    shot(page, "review-session-ended")
    page.close()


def test_a_lease_taken_over_is_said_plainly_and_nothing_is_recorded(
    browser: Any, site: tuple[Loopwise, str, dict[str, str]]
) -> None:
    lw, base, tokens = site
    page = browser.new_page()
    sign_in(page, base, tokens["rita"], f"/ui/projects/{PROJECT}/review")
    shown = int(wait_for_task(page))
    # The page claims the next task while rita reads this one. Let that claim land first, or
    # it may take the task released below (before "other" can) and leave "other" the next.
    held_by_rita = select(ReviewTaskRow.id).where(
        ReviewTaskRow.claimed_by == "rita", ReviewTaskRow.status == "claimed"
    )
    deadline = time.monotonic() + 10
    while len(rows(lw, held_by_rita)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(rows(lw, held_by_rita)) == 2
    lw.release(PROJECT, shown, "rita")  # as if the lease had lapsed...
    lw.add_reviewer("other", role=Role.REVIEWER, projects=[PROJECT])
    taken = lw.claim_next(PROJECT, "other")  # ...and someone else took the task
    assert taken is not None
    assert taken.task.id == shown
    page.keyboard.press("Enter")
    banner = page.locator("#banner")
    banner.wait_for(state="visible")
    assert "no longer yours" in banner.inner_text()
    assert rows(lw, select(ReviewRow)) == []
    page.keyboard.press("Enter")  # the banner's button: on to the next task
    assert int(wait_for_task(page, not_id=str(shown))) != shown
    page.close()


def test_a_task_claimed_for_a_page_that_was_left_is_shown_first_when_it_opens_again(
    browser: Any, site: tuple[Loopwise, str, dict[str, str]]
) -> None:
    # A page that could not give back what it held (the browser crashed, the network went) left
    # a task that is still rita's until its lease ends, and her review page starts with it.
    lw, base, tokens = site
    best = lw.claim_next(PROJECT, "rita")
    landed = lw.claim_next(PROJECT, "rita")  # the claim that answered a page already gone
    assert best is not None
    assert landed is not None
    lw.release(PROJECT, best.task.id, "rita")  # the best is open again: a new claim gets it
    page = browser.new_page()
    sign_in(page, base, tokens["rita"], f"/ui/projects/{PROJECT}/review")
    assert int(wait_for_task(page)) == landed.task.id
    page.close()


def test_a_claim_in_flight_when_the_page_is_left_gives_its_task_back(
    browser: Any, site: tuple[Loopwise, str, dict[str, str]]
) -> None:
    # The page's second claim (the next task, fetched in the background) reaches the server,
    # which leases a task to rita, but its answer is held back from the page; the page is
    # left before it arrives. It gives back that claim by its key as it goes.
    lw, base, tokens = site
    claims: list[Any] = []

    def hold_the_second(route: Any) -> None:
        sent = route.request.post_data_json
        if not claims:
            route.continue_()
        else:
            route.fetch()  # the server takes the claim; the page never sees its answer
        claims.append(sent)  # once the server answered (the test reads the database next)

    page = browser.new_page()
    page.route("**/queue/claim*", hold_the_second)
    sign_in(page, base, tokens["rita"], f"/ui/projects/{PROJECT}/review")
    shown = int(wait_for_task(page))
    deadline = time.monotonic() + 10
    while len(claims) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(claims) == 2
    key = claims[1]["claim_key"]
    assert len(key) == 32
    assert key != claims[0]["claim_key"]
    assert page.evaluate("document.body.dataset.claiming") == "1"
    held = select(ReviewTaskRow.id, ReviewTaskRow.claim_key).where(
        ReviewTaskRow.claimed_by == "rita", ReviewTaskRow.status == "claimed"
    )
    with lw.ctx.read() as tx:
        before = {tuple(r) for r in tx.session.execute(held)}
    # rita holds the task on screen (first claim) and the one the held-back claim took
    assert len(before) == 2
    assert (shown, claims[0]["claim_key"]) in before
    assert any(k == key and t != shown for t, k in before)

    page.goto(f"{base}/ui/")

    deadline = time.monotonic() + 10
    while True:
        with lw.ctx.read() as tx:
            after = list(tx.session.execute(held))
        if not after or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert after == []
    released = rows(lw, select(AuditEventRow.after).where(AuditEventRow.action == "task.released"))
    assert {"claim_key": key} in released
    page.close()


def test_the_dashboard_draws_the_seeded_numbers_and_the_admin_pages_render(
    browser: Any, site: tuple[Loopwise, str, dict[str, str]]
) -> None:
    lw, base, tokens = site
    lw.add_reviewer("sam", role=Role.REVIEWER, projects=[PROJECT])
    answers = [
        ("approve", None, None),
        ("correct", "spam", "model_bias"),
        ("correct", "spam", "model_bias"),
        ("reject", None, "noisy_input"),
        ("approve", None, None),
    ]
    for verdict, label, category in answers:
        entry = lw.claim_next(PROJECT, "sam")
        assert entry is not None
        lw.submit_verdict(
            PROJECT, entry.task.id, "sam", verdict, label=label, error_category=category
        )
    expected = lw.dashboard(PROJECT)
    stats = lw.stats(PROJECT)

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    dashboard_path = f"/ui/projects/{PROJECT}/dashboard"
    sign_in(page, base, tokens["ada"], dashboard_path)
    page.wait_for_function("document.body.dataset.chartsReady === '1'", timeout=15_000)
    cards = page.locator("section.chart")
    assert cards.count() == len(expected.charts)
    for chart in expected.charts:
        card = page.locator(f"#chart-{chart.key}")
        if chart.rows:
            assert card.locator("canvas").count() >= 1, chart.key
        # the numbers under each chart are the service's
        body = card.locator("details tbody tr")
        assert body.count() == len(chart.rows), chart.key
    errors = page.locator("#chart-errors details tbody tr")
    shown = {
        errors.nth(i).locator("th").text_content(): errors.nth(i).locator("td").first.text_content()
        for i in range(errors.count())
    }
    assert shown == {"model_bias": "2", "noisy_input": "1"}
    queue = next(c for c in expected.charts if c.key == "queue")
    open_tasks = sum(int(row[1] or 0) for row in queue.rows)
    assert open_tasks == stats.open_tasks
    kpi = page.locator("#kpi-automation").inner_text()
    assert kpi == f"{100 * stats.automation_rate:.1f}%"
    csv = page.request.get(f"{base}/v1/projects/{PROJECT}/dashboard/errors.csv")
    assert csv.ok
    assert csv.text() == next(c for c in expected.charts if c.key == "errors").to_csv()
    accessible(page)
    shot(page, "dashboard")

    page.goto(f"{base}/ui/projects/{PROJECT}/admin?evaluate=1")
    assert "Evaluation of v1" in page.locator("#evaluation").inner_text()
    accessible(page)
    shot(page, "admin")

    lw.add_to_pool(PROJECT, [f"candidate text number {i}" for i in range(5)])
    page.reload()
    page.get_by_role("link", name="List the candidates").click()
    assert page.locator("#pool-candidates tbody tr").count() == 5
    page.get_by_label("Remove sha256:").first.check()
    page.locator("#pool-candidates input[type=checkbox]").nth(2).check()
    page.get_by_role("button", name="Remove the ticked from the pool").click()
    assert (
        page.get_by_role("status").inner_text() == "Removed 2 waiting candidate(s) from the pool."
    )
    assert page.locator("#pool-candidates tbody tr").count() == 3
    assert lw.pool_status(PROJECT).waiting == 3
    page.get_by_label("A CSV or JSONL file of unlabelled texts").set_input_files(
        files=[
            {
                "name": "unlabelled.csv",
                "mimeType": "text/csv",
                "buffer": b"external_id,text\nup-1,claim your reward today\nup-2,see you at six\n",
            }
        ]
    )
    page.get_by_role("button", name="Add to the pool").click()
    assert (
        page.get_by_role("status").inner_text() == "Added 2 new candidate(s) from unlabelled.csv."
    )
    assert page.locator("#pool-candidates tbody tr").count() == 5
    assert lw.pool_status(PROJECT).waiting == 5
    accessible(page)
    shot(page, "admin-pool")
    page.goto(f"{base}/ui/admin/people")
    assert page.locator("text=rita").count() >= 1
    accessible(page)
    shot(page, "admin-people")
    page.goto(f"{base}/ui/")
    shot(page, "home")
    page.close()


def test_a_lost_answer_is_retried_without_recording_the_verdict_twice(
    browser: Any, site: tuple[Loopwise, str, dict[str, str]]
) -> None:
    lw, base, tokens = site
    page = browser.new_page()
    sign_in(page, base, tokens["rita"], f"/ui/projects/{PROJECT}/review")
    first = wait_for_task(page)
    dropped: list[str] = []

    def answer_lost(route: Any) -> None:
        # the verdict reaches the server, its answer never reaches the page (aborted even if
        # the fetch fails, so that the page is never left waiting: the checks below then say
        # what went wrong instead of a timeout)
        try:
            route.fetch()
            dropped.append(route.request.url)
        finally:
            route.abort("connectionreset")

    page.route("**/verdict", answer_lost)
    page.keyboard.press("Enter")
    banner = page.locator("#banner")
    banner.wait_for(state="visible")
    assert "network failed" in banner.inner_text()
    assert page.evaluate("document.body.dataset.taskId") == first
    page.unroute("**/verdict")
    page.keyboard.press("Enter")  # the banner's Retry has the focus
    wait_for_task(page, not_id=first)
    assert "had been recorded" in banner.inner_text()
    assert len(dropped) == 1
    reviews = rows(lw, select(ReviewRow).where(ReviewRow.task_id == int(first)))
    assert [r.verdict for r in reviews] == ["approve"]

    # and a request that never arrived is sent again, once
    second = page.evaluate("document.body.dataset.taskId")
    page.route("**/verdict", lambda route: route.abort("connectionrefused"))
    page.keyboard.press("2")
    banner.wait_for(state="visible")
    page.unroute("**/verdict")
    page.keyboard.press("Enter")
    wait_for_task(page, not_id=second)
    reviews = rows(lw, select(ReviewRow).where(ReviewRow.task_id == int(second)))
    assert [(r.verdict, r.label) for r in reviews] == [("correct", "spam")]
    page.close()
