"""`python -m rasa_chattigo.sandbox`: run the local Chattigo stand-in."""

import sys

from rasa_chattigo.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main())
