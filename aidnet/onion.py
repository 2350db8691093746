"""Client authorization keys for the coordinators' onion service (Tor v3 "client auth").

Tor refuses to hand the coordinator onion's descriptor to anyone without a
listed key, so without one the address is useless: not even the login page
can be reached. Each coordinator gets an X25519 pair: the public half goes
into the server's authorized_clients folder, the private half into their
Tor Browser (it asks for it on first visit) and nowhere else.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import nacl.public

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_ONION = re.compile(r"^[a-z2-7]{56}$")


@dataclass(frozen=True, repr=False)
class ClientAuth:
    name: str
    public_b32: str
    private_b32: str

    def __repr__(self) -> str:
        return f"ClientAuth({self.name})"

    def server_line(self) -> str:
        """Contents of authorized_clients/NAME.auth on the server."""
        return f"descriptor:x25519:{self.public_b32}"

    def client_line(self, onion: str) -> str:
        """Contents of a NAME.auth_private file for a tor client (Tor Browser takes just the key)."""
        return f"{onion}:descriptor:x25519:{self.private_b32}"


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def onion_host(address: str) -> str:
    """The 56-letter v3 address without ".onion" or a scheme; ValueError if it is not one."""
    host = address.strip().lower().removeprefix("http://").removeprefix("https://").split("/", 1)[0]
    host = host.removesuffix(".onion")
    if not _ONION.match(host):
        raise ValueError("not a v3 onion address (56 letters and digits 2-7, then .onion)")
    return host


def new_client_auth(name: str) -> ClientAuth:
    if not valid_name(name):
        raise ValueError("name must be letters, digits, - or _ (at most 40)")
    secret = bytearray(nacl.public.PrivateKey.generate().encode())
    # Clamp as X25519 does, so every tool that reads the key agrees on it.
    secret[0] &= 248
    secret[31] &= 127
    secret[31] |= 64
    public = bytes(nacl.public.PrivateKey(bytes(secret)).public_key)
    return ClientAuth(name, _b32(public), _b32(bytes(secret)))
