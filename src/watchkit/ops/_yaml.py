"""Reading declaration files and writing rule files: the only module that imports PyYAML."""

from __future__ import annotations

import os
from typing import Any

from watchkit._exceptions import ConfigError
from watchkit.ops._declare import from_mapping
from watchkit.ops._model import Service

__all__ = ["dump", "load"]

_HINT = "reading and writing YAML needs PyYAML: pip install 'watchkit[ops]'"


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as error:  # pragma: no cover - the dev extra installs it
        raise ImportError(_HINT) from error
    return yaml


def load(path: str | os.PathLike[str]) -> list[Service]:
    """The services declared in a YAML file.

    Raises:
        ConfigError: the file is not valid YAML or a value is invalid (the
            message names the file and the field).
        OSError: the file cannot be read.
    """
    yaml = _yaml()
    with open(path, encoding="utf-8") as stream:
        try:
            document = yaml.safe_load(stream)
        except yaml.YAMLError as error:
            raise ConfigError(f"{os.fspath(path)}: not valid YAML: {error}") from None
    try:
        return from_mapping(document)
    except ConfigError as error:
        raise ConfigError(f"{os.fspath(path)}: {error}") from None


def dump(document: object) -> str:
    """YAML text of a generated document; multi-line strings as literal blocks."""
    yaml = _yaml()

    class Dumper(yaml.SafeDumper):  # type: ignore[misc,name-defined]
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    out: str = yaml.dump(document, Dumper=Dumper, sort_keys=False, width=1000,
                         allow_unicode=True)  # fmt: skip
    return out
