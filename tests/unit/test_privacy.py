"""Pseudonyms of emails and IPs: unkeyed ones keep their old format, keyed ones depend on the secret."""

from __future__ import annotations

import hashlib

from service.core.privacy import author_hash, client_hash, history_hash
from service.core.settings import Settings


def test_without_a_key_the_pseudonyms_keep_their_stored_format() -> None:
    email = "reader@example.org"
    assert (
        author_hash(" Reader@Example.org ")
        == hashlib.sha256(b"commentmod-author\0" + email.encode()).hexdigest()[:32]
    )
    assert client_hash("s1", "192.0.2.1") == hashlib.sha256(b"s1\x00192.0.2.1").hexdigest()[:32]
    legacy = hashlib.blake2b(b"email\0" + email.encode(), digest_size=12, person=b"commentmod-hist")
    assert history_hash("email", email) == legacy.hexdigest()


def test_a_key_changes_every_pseudonym_and_each_key_gives_its_own() -> None:
    one, two = b"secret-one", b"secret-two"
    for make in (
        lambda key: author_hash("reader@example.org", key),
        lambda key: client_hash("s1", "192.0.2.1", key),
        lambda key: history_hash("ip", "192.0.2.1", key),
    ):
        assert make(one) == make(one)
        assert len({make(b""), make(one), make(two)}) == 3
    assert author_hash("Reader@Example.org ", one) == author_hash("reader@example.org", one)
    assert len(author_hash("a@b.c", one)) == 32 and len(history_hash("ip", "x", one)) == 24


def test_the_key_comes_from_the_environment_and_stays_out_of_repr() -> None:
    settings = Settings.from_env({"COMMENTMOD_HASH_KEY": "s3cret-value"})
    assert settings.hash_secret == b"s3cret-value"
    assert "s3cret-value" not in repr(settings)
    assert Settings.from_env({}).hash_secret == b""
