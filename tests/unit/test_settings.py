"""Settings: generated keys are saved once and reused; the environment wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings


def test_generated_keys_are_saved_and_reused_across_restarts(tmp_path: Path) -> None:
    env = {"PARLEY_DATA_DIR": str(tmp_path)}
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.write_key.startswith("wk_") and first.secret_key.startswith("sk_")
    assert first.admin_password and len(first.admin_password) >= 24
    assert (first.write_key, first.secret_key, first.identity_secret, first.admin_password) == (
        second.write_key,
        second.secret_key,
        second.identity_secret,
        second.admin_password,
    )
    assert oct((tmp_path / "secrets.json").stat().st_mode & 0o777) == "0o600"


def test_environment_values_override_saved_ones(tmp_path: Path) -> None:
    Settings.from_env({"PARLEY_DATA_DIR": str(tmp_path)})
    settings = Settings.from_env(
        {
            "PARLEY_DATA_DIR": str(tmp_path),
            "PARLEY_WRITE_KEY": "wk_mine",
            "PARLEY_GATEWAY_PORT": "9000",
            "PARLEY_ADMIN_EMAIL": "  Boss@Example.COM ",
        },
    )
    assert settings.write_key == "wk_mine"
    assert settings.gateway_port == 9000
    assert settings.public_url == "http://127.0.0.1:9000"
    assert settings.admin_email == "boss@example.com"


def test_a_bad_number_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PARLEY_GATEWAY_PORT must be an integer"):
        Settings.from_env({"PARLEY_DATA_DIR": str(tmp_path), "PARLEY_GATEWAY_PORT": "eighty"})


def test_each_service_gets_its_own_database(tmp_path: Path) -> None:
    settings = Settings.from_env({"PARLEY_DATA_DIR": str(tmp_path), "PARLEY_DB_PREFIX": "acme"})
    assert settings.database_name("identity") == "acme_identity"
    assert settings.database_name("chat") != settings.database_name("identity")


def test_nats_url_may_list_several_cluster_seeds(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PARLEY_DATA_DIR": str(tmp_path), "NATS_URL": "nats://a:4222, nats://b:4222,"}
    )
    assert settings.nats_servers() == ["nats://a:4222", "nats://b:4222"]


def test_each_service_has_its_own_metrics_port(tmp_path: Path) -> None:
    settings = Settings.from_env({"PARLEY_DATA_DIR": str(tmp_path), "PARLEY_METRICS_PORT": "9300"})
    ports = {settings.metrics_port_of(s) for s in ("gateway", "dashboard", "identity", "chat")}
    assert ports == {9300, 9301, 9302, 9303}
    assert settings.metrics_host == "127.0.0.1"
    anywhere = Settings.from_env({"PARLEY_DATA_DIR": str(tmp_path), "PARLEY_METRICS_PORT": "0"})
    assert anywhere.metrics_port_of("chat") == 0


def test_a_start_knows_which_secrets_it_generated(tmp_path: Path) -> None:
    env = {"PARLEY_DATA_DIR": str(tmp_path), "PARLEY_SECRET_KEY": "sk_mine"}
    first = Settings.from_env(env)
    assert "PARLEY_ADMIN_PASSWORD" in first.generated_secrets
    assert "PARLEY_SECRET_KEY" not in first.generated_secrets
    assert Settings.from_env(env).generated_secrets == ()
