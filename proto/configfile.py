"""Reading one process's TOML configuration with errors that name the field.

Operators read these messages, so they are English and say which key is wrong and why.
Relative paths are resolved against the configuration file's folder.
"""

from __future__ import annotations

import builtins
import tomllib
from pathlib import Path
from typing import Any

from samenloop.proto.transport import TlsFiles


class ConfigError(ValueError):
    def __init__(self, field: str, problem: str, *, file: str = "") -> None:
        super().__init__(f"{file}: {field}: {problem}" if file else f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.file = file


class Section:
    """A table of the TOML file, remembering its dotted name for error messages and the keys
    the loader read, so that every other key can be refused (`refuse_unknown`): a misspelt
    or misplaced key would otherwise silently leave its setting at the default."""

    def __init__(self, data: dict[str, Any], base: Path, name: str = "", file: str = "") -> None:
        self.data = data
        self.base = base
        self.name = name
        self.file = file
        self.read: set[str] = set()
        self.children: list[Section] = []

    @classmethod
    def load(cls, path: Path) -> Section:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read configuration ({exc.strerror})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML ({exc})") from None
        return cls(data, path.resolve().parent, file=str(path))

    def _field(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def has(self, key: str) -> bool:
        return key in self.data

    def value(self, key: str, default: Any = None) -> Any:
        """The raw value, for types the typed readers below do not cover; marks it read."""
        self.read.add(key)
        return self.data.get(key, default)

    def _child(self, data: dict[str, Any], name: str) -> Section:
        """The same Section each time a table is asked for, so reads in two places add up."""
        for child in self.children:
            if child.name == name:
                return child
        child = Section(data, self.base, name, self.file)
        self.children.append(child)
        return child

    def section(self, key: str, *, required: bool = True) -> Section:
        value = self.value(key)
        if value is None:
            if required:
                raise ConfigError(self._field(key), "missing section")
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(self._field(key), "must be a table")
        return self._child(value, self._field(key))

    def sections(self, key: str) -> list[Section]:
        value = self.value(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(self._field(key), "must be an array of tables")
        return [self._child(v, f"{self._field(key)}[{i}]") for i, v in enumerate(value)]

    def unknown_keys(self) -> list[str]:
        """Dotted names of the keys no reader asked for, in this table and the tables read."""
        unknown = [self._field(key) for key in self.data if key not in self.read]
        for child in self.children:
            unknown += child.unknown_keys()
        return unknown

    def refuse_unknown(self) -> None:
        """The final check after a loader built its config: every key left is a mistake."""
        unknown = self.unknown_keys()
        if unknown:
            raise ConfigError(unknown[0], "unknown key" + (
                f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""),
                file=self.file)

    def str(self, key: str, default: str | None = None) -> str:
        value = self.value(key, default)
        if value is None:
            raise ConfigError(self._field(key), "missing")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(self._field(key), "must be a non-empty string")
        return value.strip()

    def int(self, key: builtins.str, default: int, *, minimum: int = 0,
            maximum: int | None = None) -> int:
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self._field(key), "must be a whole number")
        if value < minimum:
            raise ConfigError(self._field(key), f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(self._field(key), f"must be at most {maximum}")
        return value

    def float(self, key: builtins.str, default: float, *, minimum: float = 0.0) -> float:
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(self._field(key), "must be a number")
        if value <= minimum:
            raise ConfigError(self._field(key), f"must be more than {minimum}")
        return float(value)

    def bool(self, key: builtins.str, default: bool) -> bool:
        value = self.value(key, default)
        if not isinstance(value, bool):
            raise ConfigError(self._field(key), "must be true or false")
        return value

    def path(self, key: builtins.str, *, must_exist: builtins.bool = True,
             default: builtins.str | None = None) -> Path:
        path = self.base / self.str(key, default)
        if must_exist and not path.exists():
            raise ConfigError(self._field(key), f"file not found: {path}")
        return path

    def secret_file(self, key: builtins.str) -> Path:
        """A key file: must exist and be readable by its owner only (mode 0600 or stricter)."""
        path = self.path(key)
        if path.stat().st_mode & 0o077:
            raise ConfigError(self._field(key), f"{path} must not be readable by group or others "
                              "(chmod 600)")
        return path

    def hex_bytes(self, key: builtins.str, length: builtins.int) -> bytes:
        text = self.str(key)
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise ConfigError(self._field(key), "must be hexadecimal") from None
        if len(value) != length:
            raise ConfigError(self._field(key), f"must be {length} bytes ({2 * length} hex digits)")
        return value

    def endpoint(self, key: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self.str(key, default)
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(self._field(key), "must be host:port")
        return value

    def tls(self) -> TlsFiles:
        tls = self.section("tls")
        return TlsFiles(ca=tls.path("ca"), cert=tls.path("cert"), key=tls.secret_file("key"))


def read_key_file(path: Path, length: int, field: str) -> bytes:
    """Key files hold hex; the error names the config field, never the content."""
    try:
        value = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(field, f"{path} does not hold a hexadecimal key") from None
    if len(value) != length:
        raise ConfigError(field, f"{path} must hold a {length}-byte key")
    return value


def write_secret(path: Path, content: bytes | str) -> None:
    """Create a key file readable by its owner only, from the first byte on."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("ascii") if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)
