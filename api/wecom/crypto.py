"""WeCom's callback encryption (企业微信 "加解密方案"), as its published
sample code (WXBizMsgCrypt) does it:

- `msg_signature` is the SHA-1 hex digest of the token, the timestamp, the
  nonce and the ciphertext, sorted as strings and concatenated;
- the key is the 43-character `EncodingAESKey` plus "=" decoded from base64
  (32 bytes): AES-256-CBC with the key's first 16 bytes as the IV;
- the plaintext is 16 random bytes, the message's length (4 bytes, big
  endian), the message (UTF-8) and the receive id (the corp id), padded with
  PKCS#7 to a multiple of 32 bytes; the ciphertext travels in base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from loaders.errors import SearchlightError

AES_KEY_LENGTH = 43  # characters of an EncodingAESKey
RANDOM_BYTES = 16
PAD_BITS = 256  # WeCom pads to 32-byte blocks, not AES's 16


class CallbackRejected(SearchlightError):
    """A callback that is not provably WeCom's, fresh, for this corp (403)."""

    def __init__(self, reason: str, field: str = "msg_signature", /, **params: object) -> None:
        super().__init__(reason, **params)
        self.field = field


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of an EncodingAESKey; ValueError (naming no part
    of the key) when it is not 43 base64 characters."""
    if len(encoding_aes_key) != AES_KEY_LENGTH:
        raise ValueError(
            f"the EncodingAESKey has {len(encoding_aes_key)} characters; WeCom's have "
            f"{AES_KEY_LENGTH} (copy it whole from the admin console)"
        )
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("the EncodingAESKey is not base64 (letters and digits)") from None
    if len(key) != 32:  # unreachable for 43 valid characters; kept as the invariant
        raise ValueError("the EncodingAESKey does not decode to 32 bytes")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WeCom's msg_signature: SHA-1 over the four strings, sorted."""
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


class WeComCrypto:
    """Verify, decrypt and (for tests, benchmarks and replies) encrypt with
    one corp's token, EncodingAESKey and corp id."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        self._token = token
        self._key = aes_key(encoding_aes_key)
        self.corp_id = corp_id

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self._token, timestamp, nonce, encrypted)

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        """CallbackRejected unless msg_signature is the signature of these
        (compared in constant time)."""
        expected = self.sign(timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise CallbackRejected("msg_signature does not match: not signed with our token")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def decrypt(self, encrypted: str) -> str:
        """The message inside a ciphertext; CallbackRejected when it does not
        decrypt, is malformed, or was sealed for another corp id."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRejected("the ciphertext is not base64", "Encrypt") from None
        if not data or len(data) % 16:
            raise CallbackRejected("the ciphertext is not whole AES blocks", "Encrypt")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(PAD_BITS).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise CallbackRejected(
                "the ciphertext does not decrypt (bad padding): wrong EncodingAESKey?", "Encrypt"
            ) from None
        if len(plain) < RANDOM_BYTES + 4:
            raise CallbackRejected("the decrypted message is too short", "Encrypt")
        (length,) = struct.unpack(">I", plain[RANDOM_BYTES : RANDOM_BYTES + 4])
        start = RANDOM_BYTES + 4
        if length > len(plain) - start:
            raise CallbackRejected("the decrypted message's length field is too long", "Encrypt")
        message, receive_id = plain[start : start + length], plain[start + length :]
        if receive_id != self.corp_id.encode("utf-8"):
            raise CallbackRejected(
                "the message was sealed for another corp id than KOC_WECOM_CORP_ID", "Encrypt"
            )
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRejected("the decrypted message is not UTF-8", "Encrypt") from None

    def encrypt(self, message: str, random_prefix: bytes | None = None) -> str:
        """The base64 ciphertext of a message, as WeCom seals it."""
        prefix = os.urandom(RANDOM_BYTES) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_BYTES:
            raise ValueError(f"the random prefix must be {RANDOM_BYTES} bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.corp_id.encode("utf-8")
        padder = padding.PKCS7(PAD_BITS).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")
