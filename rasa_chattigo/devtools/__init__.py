"""Developer tools, never loaded by the channel: the local stack, the demo and the chat.

- `LocalStack`: the sandbox and `rasa run` as child processes on free ports, wired together
  (used by `make run`, the end-to-end tests and the benchmarks).
- `ChatSession`: a terminal chat as a WhatsApp user, through the sandbox.
- `_demo`: the `rasa-chattigo demo` verb that `make run` calls.
"""

from rasa_chattigo.devtools._chat import ChatSession
from rasa_chattigo.devtools._stack import LocalStack

__all__ = ["ChatSession", "LocalStack"]
