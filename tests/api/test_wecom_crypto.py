"""WeCom's callback crypto against the vectors of its published sample code,
and round trips of our own."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from api.wecom.crypto import CallbackRejected, WeComCrypto, aes_key, signature
from tests.api.wecom_pushes import AES_KEY, CORP_ID, CRYPTO, TOKEN

# WeCom's published callback sample (WXBizMsgCrypt, "callback/Sample.py" of
# its Python SDK, weworkapi_python): the settings the sample assumes and the
# two requests it walks through, URL verification and a pushed message.
SAMPLE_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
SAMPLE_AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
SAMPLE_CORP_ID = "ww1436e0e65a779aee"
SAMPLE_VERIFY = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
}
SAMPLE_ECHO_PLAIN = "1288432023552776189"
SAMPLE_PUSH = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
    "encrypt": (
        "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3Nye"
        "TkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde"
        "0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrd"
        "kJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84Ep"
        "HSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
    ),
}
# The sample's message decrypts to the text message its third part replies with.
SAMPLE_PUSH_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)
SAMPLE = WeComCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)


def test_the_published_url_verification():
    v = SAMPLE_VERIFY
    assert signature(SAMPLE_TOKEN, v["timestamp"], v["nonce"], v["echostr"]) == v["msg_signature"]
    SAMPLE.verify(v["msg_signature"], v["timestamp"], v["nonce"], v["echostr"])
    assert SAMPLE.decrypt(v["echostr"]) == SAMPLE_ECHO_PLAIN


def test_the_published_push():
    p = SAMPLE_PUSH
    SAMPLE.verify(p["msg_signature"], p["timestamp"], p["nonce"], p["encrypt"])
    assert SAMPLE.decrypt(p["encrypt"]) == SAMPLE_PUSH_PLAIN


def test_a_known_plaintext_encrypts_as_wecom_would():
    """With the random prefix fixed, our ciphertext is the one a plain
    AES-256-CBC of WeCom's layout gives, built here by hand."""
    prefix = bytes(range(16))
    message = "<xml>你好</xml>"
    key = base64.b64decode(AES_KEY + "=")
    body = message.encode()
    plain = prefix + struct.pack(">I", len(body)) + body + CORP_ID.encode()
    pad = 32 - len(plain) % 32
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    expected = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    assert CRYPTO.encrypt(message, random_prefix=prefix) == base64.b64encode(expected).decode()


@given(st.text(max_size=300), st.binary(min_size=16, max_size=16))
def test_round_trip(message, prefix):
    sealed = CRYPTO.encrypt(message, random_prefix=prefix)
    assert len(base64.b64decode(sealed)) % 32 == 0  # padded to 32-byte blocks
    assert CRYPTO.decrypt(sealed) == message


def test_a_wrong_signature_is_refused():
    p = SAMPLE_PUSH
    for bad in ("0" * 40, p["msg_signature"][:-1] + "f", ""):
        with pytest.raises(CallbackRejected, match="msg_signature does not match"):
            SAMPLE.verify(bad, p["timestamp"], p["nonce"], p["encrypt"])
    with pytest.raises(CallbackRejected):  # the same signature over another nonce
        SAMPLE.verify(p["msg_signature"], p["timestamp"], "1597212915", p["encrypt"])
    with pytest.raises(CallbackRejected):  # signed with another token
        WeComCrypto(TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID).verify(
            p["msg_signature"], p["timestamp"], p["nonce"], p["encrypt"]
        )


def test_another_corp_id_is_refused():
    other = WeComCrypto(TOKEN, AES_KEY, "wwsomebodyelse")
    with pytest.raises(CallbackRejected, match="another corp id"):
        CRYPTO.decrypt(other.encrypt("<xml/>"))
    with pytest.raises(CallbackRejected, match="another corp id"):
        WeComCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, "ww0000000000000000").decrypt(
            SAMPLE_PUSH["encrypt"]
        )


def _raw(plain: bytes, pad_to: int = 32) -> str:
    """`plain` padded (PKCS#7 to `pad_to` bytes) and encrypted with our key,
    without WeCom's layout: to build broken messages."""
    key = base64.b64decode(AES_KEY + "=")
    padder = padding.PKCS7(pad_to * 8).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


@pytest.mark.parametrize(
    ("encrypted", "reason"),
    [
        ("not base64!", "not base64"),
        (base64.b64encode(b"x" * 20).decode(), "not whole AES blocks"),
        ("", "not whole AES blocks"),
        (_raw(bytes(16) + struct.pack(">I", 10_000) + b"<xml/>" + CORP_ID.encode()), "too long"),
        (_raw(bytes(10)), "too short"),
        (_raw(bytes(16) + struct.pack(">I", 2) + b"\xff\xfe" + CORP_ID.encode()), "not UTF-8"),
    ],
)
def test_malformed_ciphertexts_are_refused(encrypted, reason):
    with pytest.raises(CallbackRejected, match=reason):
        CRYPTO.decrypt(encrypted)


def test_bad_padding_is_refused():
    """Whole blocks that decrypt under our key to no valid 32-byte PKCS#7
    padding: a last byte of 0, or of 33, or padding bytes that disagree."""
    key = base64.b64decode(AES_KEY + "=")
    for tail in (b"\x00", b"\x21", b"\x01\x02"):
        plain = bytes(32 - len(tail)) + tail
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        data = encryptor.update(plain) + encryptor.finalize()
        with pytest.raises(CallbackRejected, match="bad padding"):
            CRYPTO.decrypt(base64.b64encode(data).decode())
    # and a message sealed with another EncodingAESKey
    with pytest.raises(CallbackRejected):
        CRYPTO.decrypt(SAMPLE.encrypt("<xml/>"))


def test_aes_key_is_43_base64_characters_and_never_echoed():
    assert len(aes_key(AES_KEY)) == 32
    for bad, problem in ((AES_KEY[:-1], "42 characters"), (AES_KEY[:-1] + "!", "not base64")):
        with pytest.raises(ValueError, match=problem) as caught:
            aes_key(bad)
        assert AES_KEY[:10] not in str(caught.value)
