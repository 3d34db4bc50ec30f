"""Fails when a secret shows up in a test run's output or logs.

Secrets looked for: every issued JWT (Chattigo access tokens have that form); every string
literal of 8+ characters that the tests assign to a name containing PASSWORD, SECRET, TOKEN or
KEY (the passwords, webhook tokens and keys the tests configure), fingerprints excepted; the
Rasa Pro license key in RASA_LICENSE when one is set; and any webhook URL whose `token=` value
(16+ characters) is not redacted to `***`, which also catches the random tokens `LocalStack`
makes. The attack tests make Sanic log an error with a tokened URL (tests/test_attacks.py,
tests/test_attacks_e2e.py), so the redaction of that line is checked.

Usage: python scripts/check_secrets.py FILE_OR_FOLDER...
"""

import ast
import os
import re
import sys
from pathlib import Path
from typing import Iterable, List, Set

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
NOT_SECRET = re.compile(r"PRINT", re.IGNORECASE)  # a key's fingerprint is meant to be shown
URL_TOKEN = re.compile(r"[?&]token=(?!\*\*\*)[A-Za-z0-9._~%-]{16,}")


def test_secrets(folder: Path) -> Set[str]:
    """String literals the test files assign to secret-looking names."""
    found: Set[str] = set()
    for path in folder.glob("**/*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                value = node.value.value
                if (isinstance(value, str) and len(value) >= 8
                        and any(SECRET_NAME.search(name) and not NOT_SECRET.search(name)
                                for name in names)):
                    found.add(value)
    return found


def leaks(lines: Iterable[str], secrets: Set[str]) -> List[str]:
    """The lines holding a secret, each with what was found (the secret itself elided)."""
    hits = []
    for number, line in enumerate(lines, 1):
        if JWT.search(line):
            hits.append(f"line {number}: a JWT")
        if URL_TOKEN.search(line):
            hits.append(f"line {number}: a webhook URL with its token")
        hits += [f"line {number}: the test secret starting {s[:3]!r}" for s in secrets if s in line]
    return hits


def main(paths: List[str]) -> int:
    secrets = test_secrets(Path(__file__).resolve().parent.parent / "tests")
    if os.environ.get("RASA_LICENSE"):
        secrets.add(os.environ["RASA_LICENSE"])
    problems = []
    files = [f for name in paths for f in
             (sorted(Path(name).rglob("*")) if Path(name).is_dir() else [Path(name)])
             if f.is_file()]
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            problems += [f"{path}: {hit}" for hit in leaks(handle, secrets)]
    for problem in problems[:50]:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} secret(s) found in the test run's output or logs", file=sys.stderr)
        return 1
    print(f"No secret in {len(files)} file(s) of output and logs "
          f"({len(secrets)} test secrets and every JWT looked for)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
