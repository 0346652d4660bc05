"""The visitor's email as composed: both parts, the headers mail clients rely on, escaping."""

from __future__ import annotations

from services.mail.compose import UnseenEmail, compose, message_id_for


def _email(**changes: object) -> UnseenEmail:
    values: dict[str, object] = {
        "key": "conv-1:7",
        "to": "sally@example.com",
        "sender": "Acme <support@acme.test>",
        "reply_to": "reply+aaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbbbbbb@reply.acme.test",
        "workspace": "Acme <Corp>",
        "messages": [{"author": "Ann", "text": "<script>alert(1)</script> & more"}],
        "continue_url": "http://chat.acme.test/c/tok",
        "unsubscribe_url": "http://chat.acme.test/u/unsub",
        "earlier_ids": [],
    }
    values.update(changes)
    return UnseenEmail(**values)  # type: ignore[arg-type]


def test_the_html_part_escapes_what_people_wrote() -> None:
    msg = compose(_email(), "reply.acme.test")
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "Acme &lt;Corp&gt;" in html
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "<script>alert(1)</script> & more" in text  # plain text stays as written


def test_the_message_id_is_stable_per_key_and_threads_under_the_earlier_ones() -> None:
    first = compose(_email(), "reply.acme.test")
    again = compose(_email(), "reply.acme.test")
    assert (
        first["Message-ID"] == again["Message-ID"] == message_id_for("conv-1:7", "reply.acme.test")
    )
    later = compose(_email(key="conv-1:9", earlier_ids=["<a@x>", "<b@x>"]), "reply.acme.test")
    assert later["In-Reply-To"] == "<b@x>" and later["References"] == "<a@x> <b@x>"
    assert "In-Reply-To" not in first


def test_one_click_unsubscribe_headers() -> None:
    msg = compose(_email(), "reply.acme.test")
    assert msg["List-Unsubscribe"] == "<http://chat.acme.test/u/unsub>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"] == "Ann replied to your conversation"
