"""Certificates pass Python 3.13's strict X.509 checks; a home-made CA that fails them is named.

Strictness is forced on (``VERIFY_X509_STRICT``, OpenSSL 3) so the 3.11 run checks what 3.13
does by default, with a real TLS handshake against a real mosquitto.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.mqtt import diagnose_connect, strict_x509_hint
from tests.broker import free_port
from tests.conftest import REPO
from tests.delivery_helpers import make_settings
from tests.pki import make_ca, make_lax_ca, make_leaf

pytestmark = pytest.mark.broker


def tls_listener(broker_factory: Any, pki: Path, cert: str = "broker") -> int:
    port = free_port()
    broker_factory(extra_config=(
        f"listener {port} 127.0.0.1\ncafile {pki / 'ca.crt'}\n"
        f"certfile {pki / (cert + '.crt')}\nkeyfile {pki / (cert + '.key')}\n"))
    return port


def strict_handshake(port: int, ca: Path, host: str) -> None:
    """A TLS handshake as Python 3.13's default context does it (raises on refusal)."""
    context = ssl.create_default_context(cafile=str(ca))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
            context.wrap_socket(sock, server_hostname=host):
        pass


def test_test_ca_passes_strict_verification(broker_factory: Any, tmp_path: Path) -> None:
    make_ca(tmp_path, "ca")
    make_leaf(tmp_path, "broker", "localhost")
    strict_handshake(tls_listener(broker_factory, tmp_path), tmp_path / "ca.crt", "localhost")


def recipe_from_docs() -> str:
    text = (REPO / "docs" / "deploy.md").read_text()
    found = re.search(r"<!-- certificate recipe[^>]*-->\n```sh\n(.*?)```", text, re.S)
    assert found, "docs/deploy.md lost its certificate recipe block"
    return found.group(1)


def test_documented_recipe_passes_strict_verification(broker_factory: Any,
                                                      tmp_path: Path) -> None:
    subprocess.run(["bash", "-euo", "pipefail", "-c", recipe_from_docs()], cwd=tmp_path,
                   check=True, capture_output=True, timeout=60)
    strict_handshake(tls_listener(broker_factory, tmp_path), tmp_path / "ca.crt",
                     "shop-pi.local")


def test_lax_ca_is_refused_by_strict_checks(broker_factory: Any, tmp_path: Path) -> None:
    """The premise of the hint: a CA without keyUsage fails exactly as on Python 3.13."""
    make_lax_ca(tmp_path, "ca")
    make_leaf(tmp_path, "broker", "localhost")
    port = tls_listener(broker_factory, tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        strict_handshake(port, tmp_path / "ca.crt", "localhost")
    assert "CA cert does not include key usage extension" in str(refused.value.verify_message)
    hint = strict_x509_hint(refused.value.verify_message) or ""
    assert "keyUsage=critical,keyCertSign" in hint and "docs/deploy.md" in hint


@pytest.mark.skipif(sys.version_info < (3, 13),
                    reason="only Python >= 3.13 verifies strictly by default (CI's 3.13 pass)")
def test_lax_ca_diagnosis_says_what_to_fix(broker_factory: Any, tmp_path: Path) -> None:
    make_lax_ca(tmp_path, "ca")
    make_leaf(tmp_path, "broker", "localhost")
    port = tls_listener(broker_factory, tmp_path)
    settings = make_settings(tmp_path / "state", port, host="localhost",
                             tls={"enabled": True, "ca_file": tmp_path / "ca.crt"})
    why = diagnose_connect(settings.mqtt)
    assert "CA cert does not include key usage extension" in why
    assert "Python 3.13+" in why and "keyUsage=critical,keyCertSign" in why


@pytest.mark.parametrize(("message", "named"), [
    ("CA cert does not include key usage extension", True),
    ("Missing Authority Key Identifier", True),
    ("Basic Constraints of CA cert not marked critical", True),
    ("self-signed certificate", False),
    ("certificate has expired", False),
    (None, False),
])
def test_hint_only_for_strictness_failures(message: str | None, named: bool) -> None:
    assert (strict_x509_hint(message) is not None) == named
