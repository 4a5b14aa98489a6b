"""`[linked]`: default linked rooms and how offers are accepted; a bad value names its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from classroomd.config.loader import ConfigError
from classroomd.daemon.config_file import load as load_config

HEAD = 'site = "kz-hub"\nroom = "bio-7"\n\n'


def test_linked_rooms_and_acceptance_are_read(tmp_path: Path) -> None:
    path = tmp_path / "classroomd.toml"
    path.write_text(HEAD + '[linked]\nrooms = ["kz-magnet/bio-7", "kz-far/bio-7", "kz-magnet/bio-7"]\n'
                    'accept_offers = "always"\n')
    config = load_config(path)
    assert config.linked.rooms == ["kz-magnet/bio-7", "kz-far/bio-7"]  # a room listed twice is linked once
    assert config.linked.accept_offers == "always"


def test_without_the_section_nothing_is_linked_and_offers_are_asked(tmp_path: Path) -> None:
    path = tmp_path / "classroomd.toml"
    path.write_text(HEAD)
    config = load_config(path)
    assert config.linked.rooms == []
    assert config.linked.accept_offers == "ask"


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ('[linked]\nrooms = ["kz-magnet"]\n', 5, "linked.rooms", "not a classroom written as"),
        ('[linked]\nrooms = ["a/b/c"]\n', 5, "linked.rooms", "'a/b/c'"),
        ('[linked]\n\nrooms = ["kz-magnet/bio-7", "kz-hub/bio-7"]\n', 6, "linked.rooms[1]", "this classroom itself"),
        ('[linked]\nrooms = ["a/1", "a/2", "a/3", "a/4", "a/5", "a/6", "a/7", "a/8", "a/9"]\n', 5, "linked.rooms",
         "at most 8"),
        ('[linked]\naccept_offers = "sometimes"\n', 5, "linked.accept_offers", "'ask' or 'always'"),
        ('[linked]\nroom = ["kz-magnet/bio-7"]\n', 5, "linked.room", "unknown key"),
    ],
)
def test_bad_linked_values_name_the_key_and_line(tmp_path: Path, text: str, line: int, key: str, says: str) -> None:
    path = tmp_path / "classroomd.toml"
    path.write_text(HEAD + text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    issues = caught.value.issues
    assert [(i.line, i.key) for i in issues] == [(line, key)], [str(i) for i in issues]
    assert says in issues[0].message
    assert f"classroomd.toml:{line}" in str(caught.value)


def test_the_example_config_names_the_section() -> None:
    example = (Path(__file__).resolve().parents[2] / "config" / "classroom.example.toml").read_text()
    assert "# [linked]" in example and "accept_offers" in example
