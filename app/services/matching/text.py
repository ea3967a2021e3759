"""Offline text relevance: tokenizer, feature hashing and TF-IDF, no model downloads.

Text is lower-cased, split on anything that is not a letter or digit (Unicode aware, so
"älskar" stays a word; runs of kana and CJK ideographs become character bigrams), stripped of
a short stop-word list (English and five other European languages), and hashed into
``N_FEATURES`` columns with CRC32 (stable across processes, unlike ``hash()``). A topic slug
contributes its parts ("vegan-food" -> "vegan", "food") and itself ("veganfood"), which also
matches the hashtag "#veganfood" in a caption.

Document vectors use sublinear term frequency (1 + ln tf) times ``idf = ln((1 + N) / (1 + df))``
fitted on the index build, L2-normalised; words that every listing uses weigh about nothing.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

N_FEATURES = 1 << 18
_MASK = N_FEATURES - 1
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_HASH_CACHE: dict[str, int] = {}
_HASH_CACHE_LIMIT = 2_000_000

STOP_WORDS: frozenset[str] = frozenset(
    """a an and are as at be but by for from has have i in is it its me my of on or our so
    that the their them they this to us was we were what when where which who will with you
    your about after all also am any been before being can could did do does each few had he
    her here him his how if into just more most no not now only other out over own same she
    should some such than then there these those through too under up very while why would
    creators creator content make looking must haves""".split()
)
# Function words of the other languages creators and brands write in most (German, Spanish,
# Portuguese, French, Italian, Dutch): without them a brief written in German matched every
# German-speaking creator on "und", "über", "woche".
STOP_WORDS |= frozenset(
    """
    der die das den dem des ein eine einen einem einer und oder aber auch als am an auf aus
    bei bin bis bist da dann dass dein deine du durch er es für hat hier ich ihr ihre im in
    ist ja kann mit nach nicht noch nur ob sie sich sind so über um uns unser unsere vom von
    vor war was wie wir wird zu zum zur mein meine sein seine woche heute nächste
    el la los las un una unos unas y o pero de del al en con por para que qué es son su sus
    tu tus mi mis se lo le les como más muy ya sobre desde hoy semana próxima este esta
    estos estas ese esa todo toda todos
    o a os as um uma uns umas e ou mas do da dos das no na nos nas em com por para que é
    seu sua seus suas meu minha você sobre desde hoje semana próxima este esta isso tudo
    le la les un une des et ou mais de du au aux en dans avec pour par que qui est sont son
    sa ses ton ta tes mon ma mes vous nous sur depuis aujourd hui semaine prochaine ce cette
    tout tous votre vos
    il lo gli una uno di da con su per che è sono suo sua io tu noi voi questo questa
    het een en of maar van voor met op te dat die is zijn mijn jouw deze dit ook niet
    """.split()
)


def hash_token(token: str) -> int:
    col = _HASH_CACHE.get(token)
    if col is None:
        col = zlib.crc32(token.encode("utf-8")) & _MASK
        if len(_HASH_CACHE) < _HASH_CACHE_LIMIT:
            _HASH_CACHE[token] = col
    return col


# Kana and CJK ideographs: Japanese and Chinese are written without spaces, so a "word" is a
# whole phrase ("作業台と木工の記録"); such a run is indexed as its character bigrams (作業,
# 業台, …, 木工, …), the usual way to match those languages without a dictionary.
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_CHARS}]")
# A word of another script glued to such a run ("studioは", "ラーメンramen") is a word of its
# own, not bigrams of the run.
_SCRIPT_RUNS = re.compile(f"[{_CJK_CHARS}]+|[^{_CJK_CHARS}]+")


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    for word in _TOKEN.findall(text.lower()):
        for t in _SCRIPT_RUNS.findall(word) if _CJK.search(word) else (word,):
            if _CJK.match(t):
                out.extend(t[i : i + 2] for i in range(max(len(t) - 1, 1)))
            elif len(t) > 1 and t not in STOP_WORDS:
                out.append(t)
    return out


def topic_tokens(topic: str) -> list[str]:
    """Tokens of one topic slug: its parts and the slug glued together (the hashtag form)."""
    parts = tokenize(topic.replace("-", " "))
    glued = "".join(parts)
    return [*parts, glued] if len(parts) > 1 else parts


def text_terms(text: str) -> list[int]:
    """Hashed columns of a text, one per occurrence."""
    return [hash_token(t) for t in tokenize(text)]


def listing_terms(
    bio: str, samples: Iterable[str], topics: Iterable[str]
) -> tuple[list[int], list[list[int]]]:
    """Hashed columns (with repeats, one per occurrence) of a listing's text, and those of
    each content sample alone (the index places each sample under a topic: topic depth)."""
    per_sample = [text_terms(sample) for sample in samples]
    terms = text_terms(bio)
    for sample_terms in per_sample:
        terms.extend(sample_terms)
    terms.extend(hash_token(t) for topic in topics for t in topic_tokens(topic))
    return terms, per_sample


def brief_terms(brief: Mapping[str, Any]) -> tuple[list[int], dict[int, str]]:
    """Hashed columns of a brief's text, and a column -> word map for reasons."""
    tokens = tokenize(brief.get("title") or "")
    tokens.extend(tokenize(brief.get("description") or ""))
    for topic in brief.get("topics") or ():
        # Topics are the brief's own summary of what it is about: count them twice.
        tokens.extend(topic_tokens(topic) * 2)
    names: dict[int, str] = {}
    cols = []
    for t in tokens:
        c = hash_token(t)
        names.setdefault(c, t)
        cols.append(c)
    return cols, names


def tf_counts(cols: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Unique columns (sorted) and their sublinear term frequencies 1 + ln(tf)."""
    if not cols:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    uniq, counts = np.unique(np.asarray(cols, dtype=np.int32), return_counts=True)
    return uniq, (1.0 + np.log(counts)).astype(np.float32)


def idf_from_df(df: np.ndarray, n_docs: int) -> np.ndarray:
    return np.log((1.0 + n_docs) / (1.0 + df)).astype(np.float32)


def weighted_query(
    cols: list[int], idf: np.ndarray, min_idf: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Query columns and L2-normalised tf-idf weights (columns too common to help dropped)."""
    uniq, tf = tf_counts(cols)
    w = tf * idf[uniq]
    keep = idf[uniq] > min_idf
    uniq, w = uniq[keep], w[keep]
    norm = float(np.sqrt((w.astype(np.float64) ** 2).sum()))
    if norm == 0.0:
        return uniq[:0], w[:0]
    return uniq, (w / norm).astype(np.float32)
