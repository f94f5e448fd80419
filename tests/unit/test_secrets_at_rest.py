"""Hook secrets and callback API keys are stored encrypted (secret_box.py, C2C_SECRET_KEY): not readable in the row,
read back for each delivery (which the reference `standardwebhooks` library verifies), across a key rotation; plain
ones from before keep working and are encrypted at the next start with a key; no key: nothing secret is stored.
On a real SQLite file and a real PostgreSQL, deliveries to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook

from click2call.db import hooks, open_database
from click2call.errors import ApiError
from click2call.secret_box import PREFIX, SecretBox, SecretError, parse_keys
from click2call.webhooks.subscriptions import reseal

from .factories import AGENT_RINGS, Call
from .helpers import ACME, HOOK_SECRET, SECRET, SECRET_KEY, Process, eventually

OLD_KEY, NEW_KEY = SECRET_KEY, "q7mYX0XkqM8h5mO0xQ2v3a8Nw4gkqVQ1n9ZV6wS0bL4="
APIKEY = "Key acme-crm-0123456789"


async def stored(engine) -> dict:
    """The hook's row as the database holds it."""
    async with engine.connect() as conn:
        return dict((await conn.execute(sa.select(hooks))).mappings().one())


async def delivered(proc: Process, receiver, path: str) -> dict:
    """A call rings; what the receiver got for it, verified by the reference library with the hook's own secret."""
    call = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
    [got] = await eventually(lambda: receiver.received(path, call.call_id), what="the delivery")
    assert Webhook(HOOK_SECRET).verify(got["body"], got["headers"])["call_id"] == call.call_id
    return got


async def test_secrets_are_not_readable_in_the_database_and_deliveries_still_verify(engine, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    async with Process(engine) as proc:
        await proc.hook(receiver.url("/crm"), "ringing", tenant=ACME, secret=HOOK_SECRET, callback_apikey=APIKEY)
        row = await stored(engine)
        got = await delivered(proc, receiver, "/crm")
    for column in ("secret", "callback_apikey"):
        assert row[column].startswith(PREFIX), column
    text = repr(row)
    assert HOOK_SECRET not in text and HOOK_SECRET.removeprefix("whsec_") not in text and "acme-crm" not in text
    assert got["headers"]["authorization"] == APIKEY
    assert HOOK_SECRET not in caplog.text and "acme-crm" not in caplog.text and OLD_KEY not in caplog.text
    # Listed, a hook says it has them, never what they are.
    [listed] = await proc.hooks.list(ACME)
    assert listed["has_secret"] and listed["has_callback_apikey"] and HOOK_SECRET not in repr(listed)


async def test_the_longest_secret_and_api_key_fit_encrypted(engine, receiver):
    """Encrypted, a 512-character API key takes some 800 (migration 0010 made the columns text: on PostgreSQL a
    varchar(512) would refuse it)."""
    longest_key = "K" * 512
    longest_secret = "whsec_" + "QUJD" * 126  # 510 characters, at most 512
    async with Process(engine) as proc:
        await proc.hook(receiver.url("/long"), "ringing", tenant=ACME, secret=longest_secret,
                        callback_apikey=longest_key)
        row = await stored(engine)
        assert len(row["callback_apikey"]) > 512 and proc.box.open(row["callback_apikey"]) == longest_key
        call = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
        [got] = await eventually(lambda: receiver.received("/long", call.call_id), what="the delivery")
    assert got["headers"]["authorization"] == longest_key
    Webhook(longest_secret).verify(got["body"], got["headers"])


async def test_deliveries_verify_across_a_key_rotation(engine, receiver):
    """New key first with the old one after it, rotate, then the new key alone: every delivery verifies; the old
    key alone no longer reads what is stored."""
    async with Process(engine, keys=(OLD_KEY,)) as proc:
        await proc.hook(receiver.url("/crm"), "ringing", tenant=ACME, secret=HOOK_SECRET, callback_apikey=APIKEY)
    before = await stored(engine)
    async with Process(engine, keys=(NEW_KEY, OLD_KEY)) as proc:  # the new key added: the old one still reads
        assert (await delivered(proc, receiver, "/crm"))["headers"]["authorization"] == APIKEY
    assert await stored(engine) == before  # a start encrypts only what is plain

    assert await reseal(engine, SecretBox((NEW_KEY, OLD_KEY)), rotate=True) == 1  # `click2call rotate-secrets`
    after = await stored(engine)
    assert after["secret"] != before["secret"] and after["callback_apikey"] != before["callback_apikey"]
    assert SecretBox((NEW_KEY,)).open(after["secret"]) == HOOK_SECRET
    with pytest.raises(SecretError):
        SecretBox((OLD_KEY,)).open(after["secret"])

    async with Process(engine, keys=(NEW_KEY,)) as proc:  # the old key dropped
        assert (await delivered(proc, receiver, "/crm"))["headers"]["authorization"] == APIKEY
    with pytest.raises(SecretError, match="cannot be decrypted"):
        async with Process(engine, keys=(OLD_KEY,)):  # a start with the wrong keys stops, before sending anything
            pass


async def test_plain_secrets_from_before_keep_working_and_are_encrypted_at_the_next_start_with_a_key(engine, receiver,
                                                                                                     caplog):
    async with engine.begin() as conn:  # as a version before encryption stored them
        await conn.execute(hooks.insert().values(
            id="h1", event="ringing", callback_url=receiver.url("/crm"), callback_apikey=APIKEY, secret=HOOK_SECRET,
            created_at=time.time(), tenant="acme", configured=False))
    async with Process(engine, keys=()) as proc:  # no key yet: they are read as they are
        assert (await delivered(proc, receiver, "/crm"))["headers"]["authorization"] == APIKEY
    assert "1 webhook(s) keep their secret or callback_apikey in plain text" in caplog.text
    assert (await stored(engine))["secret"] == HOOK_SECRET
    async with Process(engine, keys=(OLD_KEY,)) as proc:  # a key set: encrypted as it starts
        row = await stored(engine)
        assert row["secret"].startswith(PREFIX) and row["callback_apikey"].startswith(PREFIX)
        assert (await delivered(proc, receiver, "/crm"))["headers"]["authorization"] == APIKEY


async def test_without_a_key_nothing_secret_is_stored(engine, receiver):
    async with Process(engine, keys=()) as proc:
        for secret in ({"secret": HOOK_SECRET}, {"callback_apikey": APIKEY}):
            with pytest.raises(ApiError) as refused:
                await proc.hook(receiver.url("/crm"), "ringing", tenant=ACME, **secret)
            assert refused.value.code == "INVALID_PARAMETER" and "C2C_SECRET_KEY" in refused.value.message
        # A hook without secrets of its own (signed with C2C_WEBHOOK_SECRET) needs no key.
        await proc.hook(receiver.url("/plain"), "ringing", tenant=ACME)
        call = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
        [got] = await eventually(lambda: receiver.received("/plain", call.call_id), what="the delivery")
        Webhook(SECRET).verify(got["body"], got["headers"])
    async with Process(engine, keys=(OLD_KEY,)) as proc:
        await proc.hook(receiver.url("/crm"), "ringing", tenant=ACME, secret=HOOK_SECRET)
    with pytest.raises(SecretError, match="no C2C_SECRET_KEY"):  # encrypted ones and no key: the start stops
        async with Process(engine, keys=()):
            pass


def test_keys_are_checked_and_never_shown():
    assert parse_keys(f"{NEW_KEY}, {OLD_KEY}") == (NEW_KEY, OLD_KEY)
    with pytest.raises(SecretError, match="key #2 is not a Fernet key") as bad:
        parse_keys(f"{NEW_KEY} {OLD_KEY[:-2]}")
    assert OLD_KEY[:-2] not in str(bad.value)
    sealed = SecretBox((NEW_KEY,)).seal("whsec_QUJD")
    assert sealed.startswith(PREFIX) and sealed != SecretBox((NEW_KEY,)).seal("whsec_QUJD")  # a random IV each time
    assert SecretBox().open("whsec_QUJD") == "whsec_QUJD"  # plain, from before


def test_rotate_secrets_command(tmp_path):
    """`click2call rotate-secrets`, configured as `serve` is, re-encrypts every hook with the newest key."""
    url = f"sqlite:///{tmp_path}/calls.db"

    async def make() -> dict:
        engine = await open_database(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(hooks.insert().values(
                    id="h1", event="hangup", callback_url="http://127.0.0.1:9/x", created_at=time.time(),
                    secret=SecretBox((OLD_KEY,)).seal(HOOK_SECRET), callback_apikey=APIKEY, configured=False))
            return await stored(engine)
        finally:
            await engine.dispose()

    async def read() -> dict:
        engine = await open_database(url)
        try:
            return await stored(engine)
        finally:
            await engine.dispose()

    before = asyncio.run(make())
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_")}
    env.update(C2C_API_TOKENS="operator-token-0123456789", C2C_HOTLINES="02873000001=trunk-a", C2C_DATABASE_URL=url,
               C2C_SECRET_KEY=f"{NEW_KEY} {OLD_KEY}")
    done = subprocess.run([sys.executable, "-m", "click2call", "rotate-secrets"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 webhook(s) encrypted with the newest key" in done.stdout
    after = asyncio.run(read())
    assert SecretBox((NEW_KEY,)).open(after["secret"]) == HOOK_SECRET
    assert SecretBox((NEW_KEY,)).open(after["callback_apikey"]) == APIKEY  # the plain one encrypted too
    assert after["secret"] != before["secret"]
    for text in (done.stdout, done.stderr):
        assert HOOK_SECRET not in text and NEW_KEY not in text and OLD_KEY not in text

    env["C2C_SECRET_KEY"] = OLD_KEY  # the new key forgotten: it says so, changes nothing
    wrong = subprocess.run([sys.executable, "-m", "click2call", "rotate-secrets"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert wrong.returncode == 2 and "cannot be decrypted" in wrong.stderr
    assert asyncio.run(read()) == after

    key = subprocess.run([sys.executable, "-m", "click2call", "secret-key"], capture_output=True, text=True,
                         timeout=60).stdout.strip()
    Fernet(key)  # a usable key
