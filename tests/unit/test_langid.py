"""Offline language identification on short social texts."""

from __future__ import annotations

import pytest

from veille.sentiment.langid import LanguageDetector

D = LanguageDetector()


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("I love Acme Mobile so much!", "en"),
        ("LOVE MY NEW ACME PHONE!!!", "en"),
        ("why is the network down again? https://t.co/x @acme", "en"),
        ("Franchement le service client de Acme est nul 😡", "fr"),
        ("pourquoi ça marche pas ?", "fr"),
        ("je ne suis pas content du tout #fail", "fr"),
        ("No me gusta nada este teléfono", "es"),
        ("Das ist wirklich schlecht", "de"),
    ],
)
def test_detects(text: str, lang: str) -> None:
    assert D.detect(text)[0] == lang


def test_too_little_text_is_undetermined_or_hint() -> None:
    assert D.detect("😡😡 @acme #fail https://x.test") == ("und", 0.0)
    assert D.detect("ok")[0] == "und"
    assert D.detect("ok", hint="fr")[0] == "fr"


def test_confident_detection_overrides_hint() -> None:
    lang, confidence = D.detect("Je suis vraiment très content de ce téléphone", hint="en")
    assert lang == "fr" and confidence > 0.9
