"""WeCom-style nicknames (客户昵称) for generated users, built in columns.

Each name follows one of a few patterns seen on WeCom contacts: a real-name
look (surname + given name: 王子涵), a pet name (小雨, 乐乐), a parent's
name (乐乐妈妈), one or two words (阳光, 快乐小鱼), a word with an emoji
(橙子🍊), a Latin name with a surname or digits (Coco王, Lucky88), the "A"
prefix sellers use to sort first (A-李老师), a word with lucky digits
(晴天520), and about 1% a phone-number-like string (11 digits starting
with 1). The digits are random, never taken from anyone: a phone-like name
is the shape operators meet, not a real number.

The same generator state gives the same names.

    >>> import numpy as np
    >>> names = nicknames(np.random.default_rng(1), 5).to_pylist()
    >>> len(names), all(1 <= len(s) <= 24 for s in names)
    (5, True)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _listed(text: str) -> list[str]:
    return text.split()


SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉萍红玲芬燕彬鹏辉宇浩然轩涵欣怡萱琪悦晨婷雪琳颖倩洁"
)
PET = list("雨乐朵豆糖果米贝兜可甜萌妞宝欢悠安")
WORDS = _listed(
    "阳光 晴天 微笑 小鱼 橙子 柠檬 向日葵 星空 清风 明月 海浪 花开 静好 岁月 知足 淡然 简单 快乐 "
    "幸福 追梦 初心 随缘 念念 暖阳 小草 云朵 樱桃 芒果 西瓜 奶茶 咖啡 春天 夏天 晚风 山水 故事 旅行 "
    "书香 花花 猫咪 兔子 熊猫 小熊 开心果 平安 如意 吉祥 好运"
)
KIN = ("妈妈", "宝妈", "爸爸", "麻麻", "姐姐", "老师")
LATIN = _listed(
    "Amy Coco Lily Lucy Tony Jack Kevin Vicky Cindy Grace Eric Leo Anna Sunny Lucky Kiki Momo "
    "Yoyo Ella Mia Max Sam Tina Nina Jason Linda Helen Alice Bella Cherry Daisy"
)
EMOJI = tuple("🌸🌻🍀🌈🐟🍊⭐💕🌙🐱🎈🌷🍓🐰🌞")
LUCKY = ("520", "666", "888", "168", "1314", "2023", "2024", "99", "8", "123")
SEPARATORS = ("-", ".", "·", "_", "")

# Pattern weights, in the order of _PATTERNS below.
_WEIGHTS = np.array([20, 10, 8, 22, 9, 14, 3, 13, 1.0])
PHONE_SHARE = float(_WEIGHTS[-1] / _WEIGHTS.sum())


def _pick(rng: np.random.Generator, words, n: int) -> pa.Array:
    return pc.take(pa.array(list(words)), pa.array(rng.integers(0, len(words), n)))


def _join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _real_name(rng, n):  # 王子涵, 李静
    given = _pick(rng, GIVEN, n)
    two = rng.random(n) < 0.6
    second = pc.if_else(pa.array(two), _pick(rng, GIVEN, n), "")
    return _join(_pick(rng, SURNAMES, n), given, second)


def _pet_name(rng, n):  # 小雨, 阿乐, 朵朵
    char = _pick(rng, PET + GIVEN, n)
    prefix = _pick(rng, ("小", "阿", "大"), n)
    return pc.if_else(pa.array(rng.random(n) < 0.5), _join(prefix, char), _join(char, char))


def _parent_name(rng, n):  # 乐乐妈妈
    char = _pick(rng, PET, n)
    return _join(char, char, _pick(rng, KIN, n))


def _words(rng, n):  # 阳光, 快乐小鱼
    two = pa.array(rng.random(n) < 0.35)
    return _join(pc.if_else(two, _pick(rng, WORDS, n), ""), _pick(rng, WORDS, n))


def _word_emoji(rng, n):  # 橙子🍊
    return _join(_pick(rng, WORDS, n), _pick(rng, EMOJI, n))


def _latin(rng, n):  # Coco王, Lucky88, Amy
    tail = rng.integers(0, 3, n)
    surname = _pick(rng, SURNAMES, n)
    digits = pc.cast(pa.array(rng.integers(1, 100, n)), pa.string())
    tail_text = pc.if_else(
        pa.array(tail == 1), surname, pc.if_else(pa.array(tail == 2), digits, "")
    )
    return _join(_pick(rng, LATIN, n), tail_text)


def _sort_first(rng, n):  # A-李老师, A.小雨
    return _join(
        pa.array(np.full(n, "A")),
        _pick(rng, SEPARATORS[:3], n),
        _pick(rng, SURNAMES, n),
        _pick(rng, ("老师", "姐", "哥", "总"), n),
    )


def _lucky(rng, n):  # 晴天520
    return _join(_pick(rng, WORDS + PET, n), _pick(rng, LUCKY, n))


def _phone_like(rng, n):  # 13812345678: random digits, nobody's number
    second = np.array([3, 5, 7, 8, 9])[rng.integers(0, 5, n)]
    value = 10_000_000_000 + second * 1_000_000_000 + rng.integers(0, 1_000_000_000, n)
    return pc.cast(pa.array(value), pa.string())


_PATTERNS = (
    _real_name,
    _pet_name,
    _parent_name,
    _words,
    _word_emoji,
    _latin,
    _sort_first,
    _lucky,
    _phone_like,
)


def nicknames(rng: np.random.Generator, n: int) -> pa.StringArray:
    """`n` nicknames, each drawn from a pattern by its weight."""
    pattern = rng.choice(len(_PATTERNS), n, p=_WEIGHTS / _WEIGHTS.sum())
    order = np.argsort(pattern, kind="stable")
    counts = np.bincount(pattern, minlength=len(_PATTERNS))
    parts = [make(rng, int(c)) for make, c in zip(_PATTERNS, counts, strict=True)]
    names = pa.chunked_array([p.cast(pa.string()) for p in parts], pa.string())
    place = np.empty(n, np.int64)
    place[order] = np.arange(n)
    return pc.take(names, pa.array(place)).combine_chunks()
