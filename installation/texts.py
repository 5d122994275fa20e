"""Screen and message texts in the artist's and visitors' languages.

Texts live in `assets/texts/<language>.toml`, one file per language with the same
keys. Values are `str.format` templates, for example "Nodo {node_id} no encontrado".
"""

from __future__ import annotations

import logging
import tomllib
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

TEXTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "texts"
LANGUAGES = ("es", "en")


@lru_cache(maxsize=None)
def load_catalog(language: str) -> dict[str, str]:
    """Read one language's texts as a flat `{"section.key": template}` dict."""
    path = TEXTS_DIR / f"{language}.toml"
    with open(path, "rb") as handle:
        return _flatten(tomllib.load(handle))


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


class Texts:
    """Texts of one language, with English as the fallback for a missing key."""

    def __init__(self, language: str):
        if language not in LANGUAGES:
            raise ValueError(f"language {language!r} is not available; use one of {', '.join(LANGUAGES)}")
        self.language = language
        self._catalog = load_catalog(language)

    def __contains__(self, key: str) -> bool:
        return key in self._catalog

    def __call__(self, key: str, **params) -> str:
        template = self._catalog.get(key)
        if template is None:
            log.warning("text %r missing in %s", key, self.language)
            template = load_catalog("en").get(key, key)
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            log.warning("text %r in %s has a bad placeholder", key, self.language)
            return template


class TwowayError(Exception):
    """An error a person reads: it names a text key so it can be shown in any language.

    `str(error)` gives the English message, for logs.
    """

    def __init__(self, key: str, **params):
        self.key = key
        self.params = params
        super().__init__(Texts("en")(key, **params))

    def message(self, texts: Texts) -> str:
        """Return the message in the language of `texts`."""
        return texts(self.key, **self.params)
