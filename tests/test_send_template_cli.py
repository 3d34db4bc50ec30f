"""`rasa-chattigo send-template` against the real sandbox: one template, many numbers, batched."""

from collections import Counter

import pytest

from rasa_chattigo.cli._main import build_parser
from rasa_chattigo.sandbox import ThreadedSandbox

from conftest import DID, PASSWORD, USERNAME


@pytest.fixture
def sandbox(monkeypatch):
    with ThreadedSandbox(users={USERNAME: PASSWORD}, dids={USERNAME: [DID]}) as running:
        monkeypatch.setenv("CHATTIGO_BASE_URL", running.url)
        monkeypatch.setenv("CHATTIGO_USERNAME", USERNAME)
        monkeypatch.setenv("CHATTIGO_PASSWORD", PASSWORD)
        monkeypatch.delenv("CHATTIGO_CREDENTIALS_STORE", raising=False)
        yield running


def run(capsys, *argv):
    args = build_parser().parse_args(list(argv))
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_2500_numbers_go_out_in_requests_of_1000_1000_and_500(capsys, sandbox, tmp_path):
    numbers = [f"54926450{n:05d}" for n in range(2500)]
    (tmp_path / "campaign.csv").write_text(
        "".join(f"{number},Cliente {n},{n % 28 + 1}/12\n" for n, number in enumerate(numbers)))
    code, out, err = run(capsys, "send-template", "--did", DID, "--template", "aviso_factura",
                         "--language", "es_AR", "--namespace", "aynux",
                         "--file", str(tmp_path / "campaign.csv"))
    assert (code, err) == (0, "")
    assert out == (f"ok: template aviso_factura to 2500 destinations in 3 request(s) from {DID} "
                   "(accepted by Chattigo)\n")
    sent = sandbox.state.select(direction="out", did=DID)
    assert sorted(Counter(m.message_id for m in sent).values()) == [500, 1000, 1000]
    assert sorted(m.msisdn for m in sent) == numbers
    last = next(m for m in sent if m.msisdn == numbers[-1]).payload
    assert last["hsm"]["template"] == "aviso_factura"
    assert last["hsm"]["destinations"][-1] == {"destination": numbers[-1],
                                              "parameters": ["Cliente 2499", "8/12"]}


def test_numbers_given_on_the_command_line_share_the_parameters(capsys, sandbox):
    code, out, _ = run(capsys, "send-template", "--did", DID, "--template", "aviso",
                       "--language", "es", "--to", "5492644000001", "--to", "5492644000002",
                       "--parameter", "mañana", "--batch-size", "1")
    assert code == 0
    assert "2 destinations in 2 request(s)" in out
    [first, second] = sandbox.state.select(direction="out", did=DID)
    assert first.payload["hsm"]["destinations"] == [
        {"destination": "5492644000001", "parameters": ["mañana"]}]
    assert first.message_id != second.message_id


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--to", "+54 9 264"], "destinations.0.destination"),
        (["--to", "5492644000001", "--batch-size", "1001"], "between 1 and 1000"),
        (["--to", "5492644000001", "--parameter", ""], "destinations.0.parameters.0"),
        ([], "none given"),
    ],
)
def test_a_wrong_campaign_is_refused_before_anything_is_sent(capsys, sandbox, extra, words):
    code, out, err = run(capsys, "send-template", "--did", DID, "--template", "aviso",
                         "--language", "es", *extra)
    assert (code, out) == (2, "")
    assert words in err
    assert sandbox.state.select(direction="out", did=DID) == []
