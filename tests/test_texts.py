import string

import pytest

from installation.texts import LANGUAGES, Texts, TwowayError, load_catalog


def placeholders(template):
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_exists_in_language(language):
    keys = set().union(*(load_catalog(other) for other in LANGUAGES))
    missing = keys - set(load_catalog(language))
    assert not missing, f"{language} lacks {sorted(missing)}"


def test_placeholders_match_across_languages():
    reference = load_catalog("en")
    for language in LANGUAGES:
        catalog = load_catalog(language)
        for key, template in reference.items():
            assert placeholders(catalog[key]) == placeholders(template), f"{language}: {key}"


def test_error_message_follows_language():
    error = TwowayError("errors.node_not_found", node_id=7)
    assert "número 7" in error.message(Texts("es"))


def test_error_str_is_english():
    assert "number 7" in str(TwowayError("errors.node_not_found", node_id=7))


def test_spanish_texts_keep_accents():
    assert "ó" in Texts("es")("kind.machine") + Texts("es")("show.generation")


def test_unknown_language_is_rejected():
    with pytest.raises(ValueError, match="not available"):
        Texts("fr")
