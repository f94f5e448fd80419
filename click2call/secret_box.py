"""Secrets at rest: a hook's signing secret and its callback API key are stored encrypted, with the keys of
C2C_SECRET_KEY (newest first), by `cryptography`'s Fernet (AES-128-CBC and HMAC-SHA256, a random IV each time) and
MultiFernet (decrypts with any of the keys, encrypts with the newest; rotate() re-encrypts with it).

A stored value that starts with PREFIX is encrypted; any other is a plain one from before (read as it is, and
encrypted at the next start once a key is set). No key at all: nothing new can be stored that needs one.
Neither a key nor a secret is ever put in a message.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"
NEW_KEY = "`click2call secret-key` makes one"


class SecretError(ValueError):
    """A secret cannot be stored or read with the keys given (the message names neither)."""


def parse_keys(text: str, name: str = "C2C_SECRET_KEY") -> tuple[str, ...]:
    """Fernet keys, space- or comma-separated, newest first. Raises SecretError naming the bad one by position."""
    keys = tuple(text.replace(",", " ").split())
    for i, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise SecretError(f"{name}: key #{i} is not a Fernet key (32 bytes in URL-safe base64; {NEW_KEY})"
                              ) from None
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, keys: tuple[str, ...] = ()) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None

    @property
    def ready(self) -> bool:
        """A key is configured: secrets can be stored."""
        return self._fernet is not None

    @staticmethod
    def is_sealed(stored: str | None) -> bool:
        return stored is not None and stored.startswith(PREFIX)

    def seal(self, plain: str | None) -> str | None:
        if plain is None:
            return None
        if self._fernet is None:
            raise SecretError(f"no C2C_SECRET_KEY is set: secrets are stored encrypted ({NEW_KEY})")
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str | None) -> str | None:
        """The secret a stored value holds (a plain one from before: itself)."""
        if not self.is_sealed(stored):
            return stored
        if self._fernet is None:
            raise SecretError("a secret is stored encrypted but no C2C_SECRET_KEY is set")
        try:
            return self._fernet.decrypt(stored[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise SecretError("a stored secret cannot be decrypted with any key of C2C_SECRET_KEY "
                              "(was a key removed before `click2call rotate-secrets` ran?)") from None

    def reseal(self, stored: str | None, rotate: bool = False) -> str | None:
        """The value to store instead: a plain one encrypted; with rotate, an encrypted one again with the newest
        key. None: keep it as it is (checked readable)."""
        if stored is None:
            return None
        if not self.is_sealed(stored):
            return self.seal(stored)
        plain = self.open(stored)  # raises when no key opens it
        return self.seal(plain) if rotate else None
