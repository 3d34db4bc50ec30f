"""The `rasa-chattigo` command: `main` parses the command line and runs one verb.

Verbs live with what they drive: `_credentials` (keygen, encrypt, credentials ..., rotate-key),
`_chattigo` (webhook register, send-test), `_outbox` (outbox list, retry, drop), `_templates`
(send-template), the sandbox's own `sandbox` verb, and the dev tools' `demo`.
"""

from rasa_chattigo.cli._main import main

__all__ = ["main"]
