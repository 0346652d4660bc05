"""Search terms: what a conversation is found by, and highlighting as plain segments."""

from __future__ import annotations

from services.chat import search_terms as st
from shared.highlight import highlight


def test_words_are_normalized_and_split_at_addresses() -> None:
    assert st.words("Hello, SALLY@Example.com. Refund?") == [
        "hello",
        "sally@example.com",
        "sally",
        "example",
        "com",
        "refund",
    ]
    assert st.words("x" * 50) == ["x" * st.MAX_PIECE]


def test_person_terms_find_any_piece_of_a_field() -> None:
    terms = set(st.person_terms(name="Al", email="bob@example.com", visitor="6ecaf0"))
    assert {"al", "example.com", "@exa", "bob@example.com", "6ecaf0", "caf", "visitor"} <= terms
    assert "xample.co" in terms and "ab" not in terms
    long = st.person_terms(email="a" * 300 + "@example.com")
    assert all(len(t) <= st.MAX_PIECE for t in long) and len(long) < 100


def test_query_terms_are_bounded() -> None:
    assert st.query_terms("  Example.COM  invoice ") == ["example.com", "invoice"]
    assert len(st.query_terms(" ".join(f"w{n}" for n in range(50)))) == st.MAX_QUERY_TERMS
    assert st.query_terms("<script>") == ["script"]


def test_highlight_marks_every_match_and_keeps_the_text() -> None:
    segments = highlight("An <b>Invoice</b>, an invoice", ["invoice"])
    assert "".join(p for p, _ in segments) == "An <b>Invoice</b>, an invoice"
    assert [p for p, hit in segments if hit] == ["Invoice", "invoice"]
    assert highlight("", ["x"]) == [] and highlight("abc", []) == [("abc", False)]


def test_snippet_is_cut_around_the_first_match() -> None:
    text = "x " * 200 + "the refund is here" + " y" * 200
    cut = st.snippet(text, ["refund"])
    assert "refund" in cut and cut.startswith("…") and len(cut) <= 162
