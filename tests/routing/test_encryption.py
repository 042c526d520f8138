import stat

import pytest
from cryptography.fernet import Fernet

from routing.encryption import (
    SecretUnreadable,
    decrypt,
    encrypt,
    local_key_file,
    uses_local_key_file,
)


@pytest.fixture
def no_configured_keys(settings, tmp_path):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.VAR_DIR = tmp_path


def test_without_configured_keys_it_makes_a_local_key_file_once(no_configured_keys):
    token = encrypt("sk-secret")
    first = local_key_file().read_text()
    assert decrypt(token) == "sk-secret"
    encrypt("again")
    assert local_key_file().read_text() == first
    assert uses_local_key_file()


def test_the_local_key_file_is_readable_by_its_owner_only(no_configured_keys):
    encrypt("sk-secret")
    assert stat.S_IMODE(local_key_file().stat().st_mode) == 0o600


def test_the_first_configured_key_encrypts_and_all_decrypt(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt("sk-secret")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert decrypt(token) == "sk-secret"
    assert Fernet(new.encode()).decrypt(encrypt("x").encode()) == b"x"


def test_a_secret_no_key_can_read_says_so(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = encrypt("sk-secret")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretUnreadable, match="was the key that encrypted it removed"):
        decrypt(token)
