"""Sending where the egress rules allow, against real local HTTP(S) servers: the request goes to
the checked address with the name in Host and TLS, redirects are not followed, and a refused
target gets no connection at all."""

import asyncio
import contextlib
import datetime
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rapport_devtools.natsserver import free_port
from rapport_devtools.testing import eventually
from rapport_shared.web.egress import AllowList, EgressRefused
from rapport_shared.web.egress_http import Egress


@dataclass
class Server:
    """Answers every POST with `status` (and `location`, for a redirect); keeps the Host
    headers it saw."""

    status: int = 204
    location: str | None = None
    port: int = field(default_factory=free_port)
    hosts: list[str] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        self.hosts.append(request.headers["host"])
        headers = {"location": self.location} if self.location else None
        return Response(status_code=self.status, headers=headers)


@contextlib.asynccontextmanager
async def serving(server: Server, **tls: str):
    app = Starlette(routes=[Route("/hook", server.handle, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=server.port, log_level="warning", **tls)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    try:
        await eventually(lambda: running.started)
        yield server
    finally:
        running.should_exit = True
        await task


async def test_a_name_is_reached_at_its_checked_address_with_the_name_as_host():
    async with serving(Server()) as server:
        egress = Egress(allowed=AllowList.parse(f"localhost:{server.port}"), timeout_seconds=5)
        response = await egress.post(
            f"http://localhost:{server.port}/hook", content=b"{}", headers={}
        )
    assert response.status_code == 204
    assert server.hosts == [f"localhost:{server.port}"]


async def test_https_to_a_pinned_address_verifies_the_certificate_of_the_name(tmp_path):
    # The certificate names localhost only, not 127.0.0.1: the connection goes to the address
    # while TLS (server name and verification) uses the name.
    authority, certificate, key = _certificates(tmp_path, "localhost")
    trusting = ssl.create_default_context(cafile=str(authority))
    tls = {"ssl_certfile": str(certificate), "ssl_keyfile": str(key)}
    async with serving(Server(), **tls) as server:
        url = f"https://localhost:{server.port}/hook"
        allowed = AllowList.parse(f"localhost:{server.port}")
        response = await Egress(allowed=allowed, verify=trusting).post(
            url, content=b"{}", headers={}
        )
        assert response.status_code == 204
        assert server.hosts == [f"localhost:{server.port}"]
        # Without trusting the test authority, verification fails: it is not switched off.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await Egress(allowed=allowed).post(url, content=b"{}", headers={})


async def test_a_redirect_is_not_followed():
    async with serving(Server()) as elsewhere:
        redirect = Server(status=307, location=f"http://127.0.0.1:{elsewhere.port}/hook")
        async with serving(redirect):
            allowed = AllowList.parse(f"127.0.0.1:{redirect.port}, 127.0.0.1:{elsewhere.port}")
            response = await Egress(allowed=allowed).post(
                f"http://127.0.0.1:{redirect.port}/hook", content=b"{}", headers={}
            )
    assert response.status_code == 307
    assert len(redirect.hosts) == 1 and elsewhere.hosts == []


async def test_a_refused_target_gets_no_connection():
    async with serving(Server()) as server:
        for url in (
            f"http://127.0.0.1:{server.port}/hook",
            f"https://127.0.0.1:{server.port}/hook",
            f"https://localhost:{server.port}/hook",
            f"https://[::ffff:127.0.0.1]:{server.port}/hook",
        ):
            with pytest.raises(EgressRefused):
                await Egress().post(url, content=b"{}", headers={})
        # Allowed on another port only: still refused.
        other = AllowList.parse(f"127.0.0.1:{server.port + 1}")
        with pytest.raises(EgressRefused, match="must be https"):
            await Egress(allowed=other).post(
                f"http://127.0.0.1:{server.port}/hook", content=b"{}", headers={}
            )
    assert server.hosts == []


async def test_a_name_is_checked_by_what_it_resolves_to():
    hostname = socket.gethostname()  # resolves to a loopback or private address
    try:
        socket.getaddrinfo(hostname, 443)
    except OSError:
        pytest.skip(f"{hostname} does not resolve here")
    egress = Egress()
    with pytest.raises(EgressRefused, match=f"{hostname} resolves to an? (loopback|private)"):
        await egress.vet(f"https://{hostname}/hook", must_resolve=False)
    listed = Egress(allowed=AllowList.parse(hostname))
    _, addresses = await listed.vet(f"http://{hostname}/hook", must_resolve=True)
    assert addresses and all(address.is_loopback or address.is_private for address in addresses)
    # A name that does not resolve (RFC 6761: .invalid never does) has nothing to check when it
    # is set; a request to it is refused.
    target, none = await egress.vet("https://hooks.rapport.invalid/x", must_resolve=False)
    assert (target.host, none) == ("hooks.rapport.invalid", [])
    with pytest.raises(EgressRefused, match="hooks.rapport.invalid does not resolve"):
        await egress.post("https://hooks.rapport.invalid/x", content=b"{}", headers={})


def _certificates(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A test authority, and a certificate it signed for `name` with its key (PEM files)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rapport test authority")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
