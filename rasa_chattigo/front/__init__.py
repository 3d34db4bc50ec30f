"""The webhook front: a process of its own that answers Chattigo's webhooks on `front_port`,
so that an acknowledgement never waits for Rasa's turns (docs/front.md).

`Front` runs in `rasa run` and starts the front's process (`python -m rasa_chattigo.front`);
the two speak over a socket pair (`_link`). The front verifies, parses, claims and keeps each
message as the channel's own webhook does (`_serve`), answers, and passes it on; `rasa run`
runs its turn and reports the outcome, which settles the claim and the copy in the front.
"""

from rasa_chattigo.front._front import Front

__all__ = ["Front"]
