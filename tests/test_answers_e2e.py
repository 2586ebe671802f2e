"""End to end against mastodon_mock: a question answered from knowledge, a reply remembered and learned."""

from __future__ import annotations

from typing import Any

from bot.text import html_to_text
from tests.conftest import Community, Person
from tests.test_approval_loop import draft_dms, public_posts

SHIPPING = {
    "name": "shipping",
    "questions": ["Do you ship abroad?", "How much is shipping?", "Do you deliver internationally?"],
    "text": "We ship worldwide, {name}: 9 € abroad.",
}
HOURS = {"name": "opening-hours", "questions": ["When are you open?"], "text": "9 to 5, {name}."}


def answering(community: Community, **sections: Any) -> dict[str, Any]:
    rules = community.config()["rules"]
    rules[1] = {**rules[1], "answer_from": "knowledge"}
    return {"rules": rules, "answers": {"min_score": 0.45, "entries": [SHIPPING, HOURS]}, **sections}


def replies_to(person: Person, containing: str) -> list[str]:
    return [
        html_to_text(n["status"]["content"])
        for n in person.api.notifications(types=["mention"])
        if n["status"] and containing in n["status"]["content"]
    ]


def dm(community: Community, text: str) -> None:
    community.approver.api.status_post(f"@bot {text}", visibility="direct")


def test_a_question_is_answered_from_knowledge_approved_and_posted(community: Community) -> None:
    fan = community.person("fan", display_name="Fan")
    question = fan.api.status_post("@bot do you ship abroad? to Canada, say")
    app = community.app(**answering(community))
    app.cycle()

    (draft,) = app.store.drafts()
    assert draft.text == "We ship worldwide, Fan: 9 € abroad."
    (shown,) = draft_dms(community.approver)
    assert f"Draft #{draft.id}" in shown and "answer: knowledge shipping (" in shown
    assert "@fan" not in shown

    dm(community, f"ok {draft.id}")
    app.cycle()
    (post,) = public_posts(community)
    assert str(post["in_reply_to_id"]) == str(question["id"])
    assert html_to_text(post["content"]) == "@fan We ship worldwide, Fan: 9 € abroad."


def test_an_edited_answer_is_remembered_learned_and_offered_with_the_runner_up(community: Community) -> None:
    rita = community.person("rita", display_name="Rita")
    fran = community.person("fran", display_name="Fran")
    gil = community.person("gil", display_name="Gil")
    app = community.app(**answering(community))

    rita.api.status_post("@bot do you ship to Canada?")
    app.cycle()
    (first,) = app.store.drafts()
    assert first.text.startswith("We ship worldwide")
    dm(community, f"edit {first.id} Yes Rita, Canada too: 12 € and about a week.")
    app.cycle()
    assert app.store.draft(first.id).state == "sent"

    # Remembered with its question: the next person asking gets it, in their name, marked as a past reply.
    fran.api.status_post("@bot hi! do you ship to canada?")
    app.cycle()
    second = app.store.drafts()[-1]
    assert second.text == "Yes Fran, Canada too: 12 € and about a week."
    shown = draft_dms(community.approver)[0]  # newest first
    assert "answer: as you answered Rita on " in shown
    assert f'send "use {second.id} 2"' in shown and "knowledge shipping" in shown
    assert "@rita" not in shown and "@fran" not in shown

    # `use 12 2`: the runner-up (the knowledge entry) replaces the text; the draft stays pending.
    dm(community, f"use {second.id} 2")
    app.cycle()
    switched = app.store.draft(second.id)
    assert switched.state == "pending" and switched.text == "We ship worldwide, Fran: 9 € abroad."
    (told,) = replies_to(community.approver, "Still pending")
    assert f"Draft #{second.id}" in told and f'send "use {second.id} 1"' in told
    dm(community, f"reject {second.id}")

    # `learn`: the answer becomes the store's knowledge, offered first to the next question like it.
    dm(community, f"learn {first.id}")
    app.cycle()
    (learned,) = replies_to(community.approver, "Learned #")
    assert f"Learned #{first.id} as answer #" in learned and "@rita" not in learned
    gil.api.status_post("@bot Do you ship to Canada??")
    app.cycle()
    third = app.store.drafts()[-1]
    assert third.acct == "gil" and third.text == "Yes Gil, Canada too: 12 € and about a week."
    assert "answer: learned #" in draft_dms(community.approver)[0]  # newest first


def test_drafts_are_numbered_in_the_order_things_happened_answers_too(community: Community) -> None:
    app = community.app(**answering(community))
    app.catch_up()  # the service ran before they came (a first run starts from the newest page)
    fan = community.person("fan", display_name="Fan")
    fan.api.account_follow(community.bot.id)
    fan.api.status_post("@bot do you ship abroad? to Canada, say")  # answered from knowledge, with offers
    other = community.person("other", display_name="Other")
    other.api.account_follow(community.bot.id)
    app.cycle()
    drafts = sorted(app.store.drafts(), key=lambda d: d.id)
    assert [(d.rule, d.acct) for d in drafts] == [
        ("thank-new-followers", "fan"),
        ("answer-questions", "fan"),
        ("thank-new-followers", "other"),
    ]
