"""What a credential looks like, so that none reaches a line freqai-seq prints, logs or records.

The one place for it: run records and worker configs (`run_config.redacted`), the tune storage
URL, the Dask scheduler address and every error line the CLI prints go through it.
"""

from __future__ import annotations

import re

REDACTED = "REDACTED"
# Names whose value is a credential: config keys (ccxt_config included) and the parameters of a
# URL's query or fragment or of a libpq connection string (`password=`, `pwd=`, `access_token=`).
SECRET_KEY = re.compile(r"secret|password|passphrase|passwd|pwd|^pass$|token|credential"
                        r"|api_?key|private_?key|signature|^sig$|^key$|^uid$", re.IGNORECASE)
# The password of `scheme://user:password@host`: up to the first @, as SQLAlchemy reads it.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/@:\s]*:)[^@\s]*@", re.IGNORECASE)
# A `name=value` pair opening a text or following ?, &, ;, # or a space.
# (libpq quotes a value holding spaces: `password='sec ret'`)
_PAIR = re.compile(r"(?P<head>(?:^|(?<=[?&;#\s]))(?P<name>[\w.-]+)=)"
                   r"(?P<value>'[^']*'|\"[^\"]*\"|[^&;#\s'\"]+)")


def masked(text: str, mask: str = REDACTED) -> str:
    """`text` with every credential of a URL or connection string in it replaced by `mask`: the
    password of the user-info form and the values of credential-named parameters."""
    text = _URL_PASSWORD.sub(rf"\g<head>{mask}@", text)
    return _PAIR.sub(lambda m: m["head"] + mask if SECRET_KEY.search(m["name"]) else m[0], text)
