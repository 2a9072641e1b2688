"""No credential of a URL reaches a printed line or a record, whatever the URL's form."""

from __future__ import annotations

import logging

import pytest

from freqai_seq.cli.main import main
from freqai_seq.errors import FreqaiSeqError
from freqai_seq.evaluation.tune.study import _open_storage
from freqai_seq.redaction import REDACTED, masked
from freqai_seq.runs.run_config import redacted

# Each form with its secret (S3CR3T...) and what must survive the masking.
FORMS = [
    ("postgresql+psycopg://u:S3CR3T1@127.0.0.1:1/db", "postgresql+psycopg://u:REDACTED@"),
    ("postgresql+psycopg://127.0.0.1:1/db?user=u&password=S3CR3T2", "?user=u&password=REDACTED"),
    ("postgresql+psycopg:///db?host=127.0.0.1&port=1&user=u&password=S3CR3T3&sslmode=disable",
     "&sslmode=disable"),
    ("postgresql+psycopg://u:S3C/R3T4@127.0.0.1:1/db?sslpassword=S3CR3T5", "@127.0.0.1:1/db?"),
    ("mysql+pymysql://127.0.0.1:1/db;uid=u;pwd=S3CR3T6", ";pwd=REDACTED"),
    ("redis://:S3CR3T7@127.0.0.1:1/0", "redis://:REDACTED@127.0.0.1:1/0"),
    ("https://127.0.0.1:1/hook?access_token=S3CR3T8&pass=S3CR3T9#key=S3CR3T10", "#key=REDACTED"),
    ("https://127.0.0.1:1/cb#api_key=S3CR3T11&state=1", "&state=1"),
    ("host=127.0.0.1 port=1 user=u password=S3CR3T12 dbname=db", "user=u password=REDACTED"),
    ("host=127.0.0.1 password='S3CR3T13 with space' dbname=db", "password=REDACTED dbname=db"),
]


@pytest.mark.parametrize(("text", "kept"), FORMS)
def test_masked_hides_the_credential_of_every_url_form(text: str, kept: str) -> None:
    shown = masked(f"in '{text}': failed")
    assert "S3CR3T" not in shown and kept in shown and shown.endswith("': failed"), shown


def test_masked_keeps_urls_without_credentials() -> None:
    for text in ("tcp://10.0.0.5:8786", "http://127.0.0.1:8080/api/v3/klines?symbol=BTCUSD",
                 "sqlite:////tmp/tune/study.sqlite", "https://user@example.com/x?page=2"):
        assert masked(text) == text


@pytest.mark.parametrize("url", [u for u, _ in FORMS[:4]])
def test_a_refused_storage_is_one_line_without_its_password(url: str) -> None:
    """A real connection attempt to a closed port, and a URL SQLAlchemy cannot parse."""
    for storage in (url, url.replace(":1/", ":notaport/")):
        with pytest.raises(FreqaiSeqError) as refused:
            _open_storage(storage, {})
        line = str(refused.value)
        assert line.startswith("Cannot open the study storage postgresql+psycopg://"), line
        assert "S3CR3T" not in line and "\n" not in line and REDACTED in line, line


def test_the_cli_masks_every_error_line(caplog: pytest.LogCaptureFixture) -> None:
    """An error that quotes a URL (here the config file name) leaves cli.main masked."""
    with caplog.at_level(logging.ERROR):
        code = main(["backtest", "-c", "/nonexistent/x?password=S3CR3T.json"])
    assert code == 2
    assert "password=REDACTED" in caplog.text and "S3CR3T" not in caplog.text


def test_a_record_masks_database_urls_of_every_form() -> None:
    config = {f"url_{i}": text for i, (text, _) in enumerate(FORMS)}
    assert "S3CR3T" not in str(redacted(config))
