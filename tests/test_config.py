import dataclasses
import tomllib

import pytest

from installation.config import DEFAULT_CONFIG, ConfigError, Settings, load_settings


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_file_loads():
    settings = load_settings()
    assert settings.source == DEFAULT_CONFIG


def test_default_file_lists_every_setting():
    with open(DEFAULT_CONFIG, "rb") as handle:
        raw = tomllib.load(handle)
    for section in dataclasses.fields(Settings):
        if section.name == "source":
            continue
        declared = {f.name for f in dataclasses.fields(section.default_factory)}
        assert set(raw.get(section.name, {})) == declared, section.name


def test_default_file_values_equal_defaults():
    settings = load_settings()
    for section in dataclasses.fields(Settings):
        if section.name == "source":
            continue
        assert getattr(settings, section.name) == section.default_factory(), section.name


def test_every_setting_has_a_comment():
    lines = DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[number - 1].lstrip().startswith("#"), f"line {number + 1}: {line}"


def test_unknown_key_suggests_nearest(tmp_path):
    path = write(tmp_path, '[general]\nlanguaje = "en"\n')
    with pytest.raises(ConfigError, match="did you mean 'language'"):
        load_settings(path)


def test_unknown_key_names_file(tmp_path):
    path = write(tmp_path, '[general]\nlanguaje = "en"\n')
    with pytest.raises(ConfigError, match=str(path)):
        load_settings(path)


def test_unknown_section_suggests_nearest(tmp_path):
    path = write(tmp_path, "[archiv]\npath = 'x'\n")
    with pytest.raises(ConfigError, match="did you mean 'archive'"):
        load_settings(path)


def test_wrong_type_names_key_and_value(tmp_path):
    path = write(tmp_path, '[archive]\nthumbnail_side = "big"\n')
    with pytest.raises(ConfigError, match=r"archive.thumbnail_side = 'big' is invalid: expected a whole number"):
        load_settings(path)


def test_out_of_range_says_allowed(tmp_path):
    path = write(tmp_path, "[archive]\nthumbnail_side = 5\n")
    with pytest.raises(ConfigError, match="must be at least 32"):
        load_settings(path)


def test_bad_choice_lists_allowed(tmp_path):
    path = write(tmp_path, '[general]\nlanguage = "fr"\n')
    with pytest.raises(ConfigError, match="allowed values are 'es', 'en'"):
        load_settings(path)


def test_boolean_is_not_a_number(tmp_path):
    path = write(tmp_path, "[archive]\nmin_free_mb = true\n")
    with pytest.raises(ConfigError, match="expected a whole number"):
        load_settings(path)


def test_broken_toml_is_rejected(tmp_path):
    path = write(tmp_path, "[general\nlanguage = 'en'\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml")


def test_missing_keys_take_defaults(tmp_path):
    settings = load_settings(write(tmp_path, '[general]\nlanguage = "en"\n'))
    assert settings.archive.thumbnail_side == 256


def test_override_sets_value(tmp_path):
    settings = load_settings(write(tmp_path, ""), ["general.language=en"])
    assert settings.general.language == "en"


def test_override_parses_numbers(tmp_path):
    settings = load_settings(write(tmp_path, ""), ["archive.thumbnail_side=128"])
    assert settings.archive.thumbnail_side == 128


def test_override_typo_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'language'"):
        load_settings(write(tmp_path, ""), ["general.lang=en"])


def test_bad_override_is_named_as_option(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, "[multiscale]\nchild_change = 0.3\n"), ["multiscale.child_change=-1"])
    assert str(error.value).startswith("--set: multiscale.child_change = -1 is invalid")


def test_unknown_override_section_is_named_as_option(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, ""), ["Multiscale.size_cpu=64"])
    assert str(error.value).startswith("--set: unknown section [Multiscale]; did you mean 'multiscale'?")


def test_bad_file_value_is_named_with_file(tmp_path):
    path = write(tmp_path, "[multiscale]\nchild_change = -1\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path, ["general.language=en"])
    assert str(error.value).startswith(f"{path.resolve()}: multiscale.child_change = -1 is invalid")


@pytest.mark.parametrize(("key", "value"), [("corners", "[1, 2, 3]"), ("grey_reference", "[10, 10]")])
def test_capture_area_needs_whole_set(tmp_path, key, value):
    with pytest.raises(ConfigError, match=f"capture.{key} = .* is invalid"):
        load_settings(write(tmp_path, f"[capture]\n{key} = {value}\n"))


def test_capture_areas_accept_full_sets(tmp_path):
    settings = load_settings(write(tmp_path, "[capture]\ncorners = [0, 0, 9, 0, 9, 9, 0, 9]\n"
                                             "grey_reference = [1, 2, 3, 4]\n"))
    assert len(settings.capture.corners) == 8
    assert len(settings.capture.grey_reference) == 4


def test_override_without_section_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load_settings(write(tmp_path, ""), ["language=en"])


def test_archive_dir_is_beside_settings_file(tmp_path):
    settings = load_settings(write(tmp_path, '[archive]\npath = "store"\n'))
    assert settings.archive_dir() == tmp_path / "store"


def test_describe_lists_resolved_values(tmp_path):
    settings = load_settings(write(tmp_path, ""), ["general.language=en"])
    assert "general.language = 'en'" in settings.describe()


def test_nan_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="not nan"):
        load_settings(write(tmp_path, ""), ["display.hold_s=nan"])


def test_non_utf8_file_is_rejected(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes("[general]\nlanguage = 'es'\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_empty_archive_path_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="archive.path = '' is invalid"):
        load_settings(write(tmp_path, '[archive]\npath = ""\n'))


@pytest.mark.parametrize("key", ["allow", "visitor_networks"])
def test_osc_networks_must_be_addresses(tmp_path, key):
    with pytest.raises(ConfigError, match="not an IP address or range"):
        load_settings(write(tmp_path, ""), [f'osc.{key}=["192.168.1.0/24", "hello"]'])


def test_background_needs_three_numbers(tmp_path):
    with pytest.raises(ConfigError, match="expected three numbers"):
        load_settings(write(tmp_path, ""), ["display.background=[1,2]"])
