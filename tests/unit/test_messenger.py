"""The Messenger settings' validation, the contrast rule, and the key list the widget uses."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from services.gateway import assets
from shared import messenger


def test_the_string_keys_are_the_widgets_english_catalogue() -> None:
    node = shutil.which("node")
    assert node
    path = assets.WIDGET_DIR / "lib" / "i18n.js"
    out = subprocess.run(
        [node, "-e", f"console.log(JSON.stringify(Object.keys(require({json.dumps(str(path))}).EN)))"],
        check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert tuple(json.loads(out.stdout)) == messenger.STRING_KEYS
    for lang in assets.LANGS:
        assert set(json.loads(assets.build_catalogue(lang))) == set(messenger.STRING_KEYS)


@pytest.mark.parametrize(
    ("color", "text"),
    [("#ffffff", "#000000"), ("#000000", "#ffffff"), ("#1f5fd6", "#ffffff"), ("#ffd400", "#000000"),
     ("#777777", "#000000"), ("#005a00", "#ffffff"), ("not-a-colour", "#ffffff")],
)  # fmt: skip
def test_text_on_the_chosen_colour_is_the_more_readable_of_black_and_white(
    color: str, text: str
) -> None:
    assert messenger.text_on(color) == text


def test_strings_are_known_keys_plain_and_bounded() -> None:
    parsed = messenger.parse_strings("fr", "greeting = Bonjour !\n\n send=Envoyer ")
    assert parsed == {"greeting": "Bonjour !", "send": "Envoyer"}
    assert messenger.parse_strings("fr", messenger.strings_text(parsed)) == parsed
    for lang, text in [
        ("fr", "welcome = Bonjour"),  # unknown key
        ("fr", "greeting Bonjour"),  # no `=`
        ("fr", "greeting = <b>Bonjour</b>"),  # markup
        ("fr", "greeting = Tom &amp; Jerry"),  # an entity
        ("fr", "greeting = " + "x" * 301),  # too long
        ("fr", "greeting = a\x07b"),  # a control character
        ("it", "greeting = Ciao"),  # a language the widget cannot choose
    ]:
        with pytest.raises(messenger.Invalid):
            messenger.parse_strings(lang, text)
    assert messenger.parse_strings("he", "send = שלח") == {"send": "שלח"}


def test_the_welcome_look_never_carries_an_unchecked_colour_or_side() -> None:
    look = messenger.widget_look("", "red; background: url(x)", "top", {"zz": {"send": "x"}})
    assert look == {
        "greeting": None,
        "color": messenger.DEFAULT_COLOR,
        "text_color": "#ffffff",
        "position": "right",
        "strings": {},
    }
