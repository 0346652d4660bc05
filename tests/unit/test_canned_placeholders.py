"""Canned replies' placeholders, as the reply form without scripts fills them."""

from __future__ import annotations

from services.dashboard.canned import fill, values_of

AGENT = {"name": "Ann"}


def test_values_come_from_the_profile_and_the_first_name_from_the_name() -> None:
    values = values_of({"name": " Sally  Ride ", "email": "s@example.com"}, AGENT)
    assert values == {
        "name": "Sally  Ride",
        "first_name": "Sally",
        "email": "s@example.com",
        "user_id": "",
        "agent_name": "Ann",
    }
    assert (
        values_of({"name": "Sally Ride", "traits": {"first_name": "Sal"}}, AGENT)["first_name"]
        == "Sal"
    )


def test_fill_uses_the_value_else_the_fallback_and_leaves_unknown_ones() -> None:
    text = "Hi {{ first_name | there }}, {{email}}. {{agent_name}} {{unknown}} {{name}}"
    assert fill(text, values_of(None, AGENT)) == "Hi there, . Ann {{unknown}} "
    named = values_of({"name": "<b>Sal</b> Ride"}, AGENT)
    assert fill("Hi {{first_name}}", named) == "Hi <b>Sal</b>"
