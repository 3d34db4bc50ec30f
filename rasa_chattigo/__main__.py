"""`python -m rasa_chattigo` is the `rasa-chattigo` command."""

import sys

from rasa_chattigo.cli._main import main

sys.exit(main())
