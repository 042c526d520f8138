"""Encrypting provider secrets at rest with MultiFernet: the first key encrypts, all decrypt.

Keys come from FIELD_ENCRYPTION_KEYS. Without them (the embedded demo, DEBUG on) a key is
generated once into var/field-encryption.key, which git ignores; settings refuse to start
with DEBUG off and no keys.
"""

import os
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

LOCAL_KEY_FILE_NAME = "field-encryption.key"


class SecretUnreadable(Exception):
    """A stored secret none of the configured keys can decrypt."""


def local_key_file():
    return settings.VAR_DIR / LOCAL_KEY_FILE_NAME


def uses_local_key_file() -> bool:
    return not settings.FIELD_ENCRYPTION_KEYS


@sensitive_variables()
def _local_key() -> str:
    path = local_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created readable by this user only; O_EXCL so two processes never both write one.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(Fernet.generate_key().decode())
    return path.read_text().strip()


@cache
def _box(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def box() -> MultiFernet:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS) or (_local_key(),)
    return _box(keys)


@sensitive_variables()
def encrypt(secret: str) -> str:
    return box().encrypt(secret.encode()).decode()


@sensitive_variables()
def decrypt(token: str) -> str:
    try:
        return box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "No configured FIELD_ENCRYPTION_KEYS decrypts this secret: "
            "was the key that encrypted it removed?"
        ) from None


def reencrypt(token: str) -> str:
    """The same secret encrypted under the first key (MultiFernet.rotate)."""
    try:
        return box().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with the configured keys."
        ) from None
