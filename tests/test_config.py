from pathlib import Path

import pytest

from installation.config import ConfigError, DEFAULT_CONFIG, load_settings


def test_default_file_loads():
    settings = load_settings()
    assert settings.general.language == "es"
