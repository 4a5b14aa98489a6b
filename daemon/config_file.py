"""Reading the daemon's config file with every check, including each device kind's own keys.

The config layer validates the shared shape; the keys a kind adds (a printer's `baud`, a panel's
`profile`) are checked against that kind's options model, which only the daemon may look up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from classroomd.config.loader import load_config, parse_config
from classroomd.config.schema import Config
from classroomd.devices import device_class


def kind_options(kind: str) -> type[BaseModel] | None:
    return device_class(kind).Options


def load(path: str | Path, defaults: dict[str, Any] | None = None) -> Config:
    return load_config(path, defaults, kind_options)


def parse(text: str, file: str = "<config>", defaults: dict[str, Any] | None = None) -> Config:
    return parse_config(text, file, defaults, kind_options)
