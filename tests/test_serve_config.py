"""Settings (TOML < env < flags) and the hub token file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jarvis.server.config import ConfigError, Settings, load_settings
from jarvis.server.tokens import TokenError, load_or_create_token, token_path, tokens_match


def test_defaults_without_a_file() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.hub.port == 10600
    assert settings.hub.silence_s == 0.6


def test_toml_then_env_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "jarvis.toml"
    config.write_text(
        'default_user = "alice"\n'
        "[hub]\nport = 10601\nsilence_s = 0.8\nstt = ['tcp://a:1', 'tcp://b:2']\n"
        '[satellites.kitchen-pi]\nuser_id = "bob"\narea = "kitchen"\n'
    )
    settings = load_settings(config, environ={"JARVIS_HUB_PORT": "10602", "JARVIS_TTS_PORT": "7"})
    assert settings.default_user == "alice"
    assert settings.hub.port == 10602  # env beats file
    assert settings.hub.silence_s == 0.8
    assert settings.hub.stt == ("tcp://a:1", "tcp://b:2")
    assert settings.tts.port == 7
    assert settings.satellite("kitchen-pi").user_id == "bob"
    assert settings.satellite("kitchen-pi").area == "kitchen"
    assert settings.satellite("other").user_id is None

    flagged = load_settings(
        config,
        environ={"JARVIS_HUB_PORT": "10602"},
        overrides={"hub.port": 0, "hub.brain": "tcp://x:3,tcp://y:4", "stt.model": None},
    )
    assert flagged.hub.port == 0  # flags beat env
    assert flagged.hub.brain == ("tcp://x:3", "tcp://y:4")
    assert flagged.stt.model == ""  # a None override (flag not given) changes nothing


def test_hub_tls_from_the_file_the_env_and_the_flag(tmp_path: Path) -> None:
    import argparse

    from jarvis.server.hub.__main__ import add_hub_arguments, hub_overrides

    config = tmp_path / "jarvis.toml"
    config.write_text("[hub]\ntls = true\n")
    assert load_settings(config, environ={}).hub.tls is True
    assert load_settings(environ={"JARVIS_HUB_TLS": "true"}).hub.tls is True
    parser = argparse.ArgumentParser()
    add_hub_arguments(parser)
    flagged = hub_overrides(parser.parse_args(["--hub-tls"]))
    assert load_settings(environ={}, overrides=flagged).hub.tls is True
    assert load_settings(environ={}, overrides=hub_overrides(parser.parse_args([]))).hub.tls is False
    config.write_text("[hub]\ntls = 'yes please'\n")
    with pytest.raises(ConfigError, match="tls"):
        load_settings(config, environ={})


def test_default_file_in_data_dir(_isolated_data_dir: Path) -> None:
    _isolated_data_dir.mkdir(parents=True, exist_ok=True)
    (_isolated_data_dir / "jarvis.toml").write_text("[web]\nenabled = false\n")
    settings = load_settings(environ=dict(os.environ))
    assert settings.web.enabled is False


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[hub]\nport = 'abc'\n", "hub"),
        ("[hub]\nnonsense = 1\n", "nonsense"),
        ("[bogus]\nx = 1\n", "bogus"),
        ("[hub\n", "invalid TOML"),
        ("[web]\nenabled = 'maybe'\n", "true/false"),
        ("[hub]\nwake_engine = 'porcupine'\n", "wake_engine 'porcupine': one of auto, micro"),
        ("[hub]\nfollow_up_s = 45\n", "follow_up_s 45.0: 0 .off. to 30 seconds"),
        ("[hub]\nfollow_up_s = -1\n", "follow_up_s -1.0: 0 .off. to 30 seconds"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(config, environ={})


def test_bad_env_value_names_the_source() -> None:
    with pytest.raises(ConfigError, match="environment"):
        load_settings(environ={"JARVIS_HUB_PORT": "ten"})


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_token_created_once_with_mode_0600() -> None:
    token, created = load_or_create_token()
    assert created
    assert len(token) >= 32
    path = token_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = load_or_create_token()
    assert (again, created_again) == (token, False)


def test_token_compare() -> None:
    token, _ = load_or_create_token()
    assert tokens_match(token, token)
    assert not tokens_match(token, token + "x")
    assert not tokens_match(token, "")
    assert not tokens_match(token, None)


def test_short_token_file_refused() -> None:
    path = token_path()
    path.write_text("short\n")
    with pytest.raises(TokenError, match="shorter"):
        load_or_create_token()


def test_open_mode_is_tightened() -> None:
    path = token_path()
    path.write_text("x" * 32 + "\n")
    os.chmod(path, 0o644)
    token, created = load_or_create_token()
    assert token == "x" * 32 and not created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_serve_raises_the_open_file_limit_within_the_hard_limit() -> None:
    import subprocess
    import sys

    code = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))\n"
        "from jarvis.server.serve import raise_open_file_limit\n"
        "print(raise_open_file_limit(8192), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["4096", "4096"]  # up to the hard limit, never above it
