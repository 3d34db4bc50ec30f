"""Where each business number's Chattigo login comes from, kept encrypted.

- `InlineCredentials`: one number, from credentials.yml (`password` plain or `enc:...`).
- `StoreCredentials` over a `CredentialStore`: many numbers in a SQL table, passwords
  encrypted with Fernet keys (`Keyring`, rotated newest first).
- `provider_from_settings` picks one from the channel's settings.
The admin API (`_admin_api`, Sanic) is mounted by the channel only when `admin_token` is set.
"""

from rasa_chattigo.credentials._crypto import Keyring, Secret, encrypt_value, load_keyring
from rasa_chattigo.credentials._providers import (
    InlineCredentials,
    StoreCredentials,
    default_did,
    provider_from_settings,
)
from rasa_chattigo.credentials._store import CredentialStore

__all__ = [
    "CredentialStore",
    "InlineCredentials",
    "Keyring",
    "Secret",
    "StoreCredentials",
    "default_did",
    "encrypt_value",
    "load_keyring",
    "provider_from_settings",
]
