"""Settings: the outside contract's variable names, nesting, secrets, and the README table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from tidings.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def env_names(model: type[BaseModel], prefix: str = "TIDINGS_") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_kafka_bootstrap_servers_is_read_without_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    assert Settings().bootstrap_servers == "10.0.0.1:9092"


def test_topic_prefix_comes_from_tidings_topic_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_TOPIC_PREFIX", "staging.")
    assert Settings().topic_prefix == "staging."


def test_nested_settings_use_a_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_KAFKA__LINGER_MS", "25")
    monkeypatch.setenv("TIDINGS_TOPICS__EVENTS_PARTITIONS", "24")
    current = Settings()
    assert (current.kafka.linger_ms, current.topics.events_partitions) == (25, 24)


def test_the_service_keys_never_appear_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_SERVICE_KEYS", '{"k1": "s3cret"}')
    monkeypatch.setenv("TIDINGS_SERVICE_KEY_ID", "k1")
    current = Settings()
    assert "s3cret" not in repr(current)
    assert current.service_keys is not None
    assert current.service_keys["k1"].get_secret_value() == "s3cret"
    assert current.service_key_id == "k1"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", README.read_text(), re.MULTILINE))
    expected = {
        "KAFKA_BOOTSTRAP_SERVERS" if name == "TIDINGS_BOOTSTRAP_SERVERS" else name
        for name in env_names(Settings)
    }
    assert sorted(expected - documented) == []
