"""Test certificates made with the openssl CLI, to the same recipe as docs/deploy.md.

Python 3.13's ``ssl.create_default_context()`` sets VERIFY_X509_STRICT, which refuses a CA
without keyUsage ("CA cert does not include key usage extension"), a CA whose basicConstraints
is not critical, and certificates without subject/authority key identifiers. Every CA and leaf
here carries them explicitly (not from the system's openssl.cnf), so the tests pass on 3.11 and
3.13 alike. ``make_lax_ca`` is the old recipe, kept only to test how its refusal is explained.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

CURVE = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
CA_EXTENSIONS = (
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid:always",
)
LEAF_EXTENSIONS = (
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth,clientAuth",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid:always",
)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(cwd: Path, name: str) -> Path:
    """A strict-compliant CA: ``name``.crt and ``name``.key in ``cwd``."""
    addext = [arg for ext in CA_EXTENSIONS for arg in ("-addext", ext)]
    openssl("req", "-x509", *CURVE, "-days", "2", "-subj", f"/CN={name}", *addext,
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=cwd)
    return cwd / f"{name}.crt"


def make_lax_ca(cwd: Path, name: str) -> Path:
    """A CA with no keyUsage, as home-made CAs (and this project's old recipe) often are."""
    openssl("req", "-x509", *CURVE, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=cwd)
    return cwd / f"{name}.crt"


def make_leaf(cwd: Path, name: str, cn: str, ca: str = "ca") -> Path:
    """``name``.crt/.key for host ``cn`` (its only subjectAltName), signed by CA ``ca``."""
    openssl("req", *CURVE, "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text("\n".join([*LEAF_EXTENSIONS, f"subjectAltName=DNS:{cn}"])
                                     + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
            cwd=cwd)
    return cwd / f"{name}.crt"
