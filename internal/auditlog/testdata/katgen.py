#!/usr/bin/env python3
"""Known answers for internal/auditlog's canonical events, versions 1 and 2.

Written from the doc comments of MarshalCanonical, HashSession, HashClient
and LeafHash, with nothing but Python's standard library, so that the Go
code is checked against an independent encoder. Run it and compare its
output with katEvents and katEventsV2 in event_test.go:

    python3 internal/auditlog/testdata/katgen.py
"""
import datetime
import hashlib
import struct

NONCE = bytes(range(32))          # katNonce
SALT = bytes(range(32, 64))       # katSalt


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def string(s):
    b = s.encode("utf-8")
    return uvarint(len(b)) + b


def micros(t):
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    d = t - epoch
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def salted(domain, salt, value):
    v = value.encode("utf-8")
    return hashlib.sha256(domain.encode() + b"\x00" + salt + uvarint(len(v)) + v).digest()


def canonical(version, e, salt=None, rec_version=0, rec_digest=b""):
    b = bytes([version]) + struct.pack(">Q", e["index"]) + struct.pack(">q", micros(e["time"]))
    names = ["actor", "role", "clinic", "action", "patient", "record", "purpose", "outcome"]
    if version == 1:
        names += ["session", "client"]
    for n in names:
        b += string(e[n])
    if version in (2, 3):
        b += salted("confidant/audit-session/v2", salt, e["session"])
        b += salted("confidant/audit-client/v2", salt, e["client"])
    b += struct.pack(">Q", e["seq"]) + struct.pack(">q", e["prev"])
    if version == 3:
        b += struct.pack(">Q", rec_version) + rec_digest
    return b


def commit(nonce, canon):
    return hashlib.sha256(b"confidant/audit-leaf/v1\x00" + nonce + canon).digest()


def merkle_leaf(c):
    return hashlib.sha256(b"\x00" + c).digest()


UTC = datetime.timezone.utc
EVENTS = {
    "read": dict(index=7, time=datetime.datetime(2026, 3, 1, 12, 34, 56, 789012, UTC),
                 actor="staff-1", role="therapist", clinic="clinic-1", action="note.read",
                 patient="patient-1", record="note-1", purpose="care", outcome="ok",
                 session="sess-1", client="192.0.2.1", seq=3, prev=5),
    "empty": dict(index=0, time=datetime.datetime(1970, 1, 1, tzinfo=UTC), actor="", role="",
                  clinic="", action="", patient="", record="", purpose="", outcome="",
                  session="", client="", seq=0, prev=-1),
    "extremes": dict(index=2**64 - 1, time=datetime.datetime(1969, 7, 20, 20, 17, 40, 1, UTC),
                     actor="a", role="security", clinic="c", action="break-glass", patient="p",
                     record="r", purpose="Änne ürgent — 緊急 " + "x" * 200, outcome="denied",
                     session="s", client="2001:db8::1", seq=2**64 - 1, prev=2**63 - 1),
}

for version in (1, 2):
    print("version", version)
    for name, e in EVENTS.items():
        c = canonical(version, e, SALT)
        k = commit(NONCE, c)
        print(" ", name)
        if version == 2:
            print("    session_hash", salted("confidant/audit-session/v2", SALT, e["session"]).hex())
            print("    client_hash ", salted("confidant/audit-client/v2", SALT, e["client"]).hex())
        print("    canonical", c.hex())
        print("    commit   ", k.hex())
        print("    merkle   ", merkle_leaf(k).hex())

# Version 3: the "read" event as a record write of note version 2 whose
# sealed value is the bytes "sealed note v2" (eventv3_test.go).
print("version 3")
c = canonical(3, EVENTS["read"], SALT, 2, hashlib.sha256(b"sealed note v2").digest())
k = commit(NONCE, c)
print("  read")
print("    canonical", c.hex())
print("    commit   ", k.hex())
print("    merkle   ", merkle_leaf(k).hex())
