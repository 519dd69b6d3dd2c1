"""A spoken answer without a language model: "what does the boiler manual say about the pressure?".

:func:`parse_question` finds the document words and the topic in the question (English, French);
:func:`answer_question` reads the best passage of that document, among those the user may read,
with its source ("From the boiler manual, section Pressure: ..."), and says so honestly when there
is no such document or nothing in it about the topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .chunk import SECTION_SEP
from .store import DocumentStore, Hit, query_words

MIN_SIMILARITY = 0.45
"""Below this cosine similarity, and without a word in common, a passage is not "about" the topic."""
MAX_SPOKEN_CHARS = 400

_ART_EN = r"(?:the |my |our |this |that )?"
_ART_FR = r"(?:le |la |l'|l’|les |mon |ma |mes |notre |nos |ce |cette )?"
_ABOUT_EN = r"(?:about|on|regarding)"
_ABOUT_FR = r"(?:sur|à propos de|à propos du|au sujet de|au sujet du|concernant)"
_WHAT_FR = r"(?:qu'est-ce que|qu'est ce que|que)"
_DOC, _TOPIC = r"(?P<doc>.+?)", r"(?P<topic>.+)"
_PATTERNS = [
    ("en", rf"^what (?:does|do|did) {_ART_EN}{_DOC} (?:say|says|tell me|mention) {_ABOUT_EN} {_TOPIC}$"),
    ("en", rf"^what (?:is|s) (?:written |said )?in {_ART_EN}{_DOC} {_ABOUT_EN} {_TOPIC}$"),
    ("en", rf"^(?:look up|search for|find) (?P<topic>.+?) in {_ART_EN}(?P<doc>.+)$"),
    ("en", rf"^(?:search|check) {_ART_EN}{_DOC} for {_TOPIC}$"),
    ("fr", rf"^{_WHAT_FR} (?:dit|disent) {_ART_FR}{_DOC} {_ABOUT_FR} {_TOPIC}$"),
    ("fr", rf"^{_WHAT_FR} {_ART_FR}{_DOC} (?:dit|disent) {_ABOUT_FR} {_TOPIC}$"),
    ("fr", rf"^(?:cherche|recherche|trouve) (?P<topic>.+?) dans {_ART_FR}(?P<doc>.+)$"),
]
_COMPILED = [(lang, re.compile(p, re.I)) for lang, p in _PATTERNS]


@dataclass(frozen=True)
class Question:
    document: str
    """The words that name the document ("boiler manual")."""
    topic: str
    language: str


def parse_question(text: str) -> Question | None:
    """The document and topic of "what does the X say about Y" (and French forms), or None."""
    cleaned = re.sub(r"\s+", " ", text.replace("’", "'")).strip().strip("?!. ").strip()
    for language, pattern in _COMPILED:
        match = pattern.match(cleaned)
        if match:
            doc = match.group("doc").strip(" ,")
            topic = re.sub(
                rf"^{_ART_EN if language == 'en' else _ART_FR}",
                "",
                match.group("topic").strip(" ,"),
                flags=re.I,
            )
            if doc and topic:
                return Question(doc, topic, language)
    return None


def _relevant(hit: Hit, topic: str) -> bool:
    words = set(query_words(topic))
    if words & set(query_words(f"{hit.section} {hit.text}")):
        return True
    return hit.similarity is not None and hit.similarity >= MIN_SIMILARITY


def _spoken(text: str, limit: int = MAX_SPOKEN_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[: cut + 1] if cut > limit // 3 else text[:limit].rsplit(" ", 1)[0] + "…"


def _the(title: str) -> str:
    """ "Boiler manual" -> "the boiler manual" (an acronym keeps its capitals)."""
    head = title.split(" ", 1)[0]
    if head.isupper() and len(head) > 1:
        return f"the {title}"
    return f"the {title[:1].lower()}{title[1:]}"


async def answer_question(store: DocumentStore, user: str, question: Question, language: str = "en") -> str:
    """What Jarvis says: the best passage with its source, or an honest "nothing found"."""
    french = (language or question.language).lower().startswith("fr")
    docs = await store.find_documents(user, question.document)
    if not docs:
        if french:
            return f"Je ne trouve aucun document « {question.document} » parmi ceux que vous pouvez lire."
        return f"I found no document called {question.document} among those you can read."
    doc = docs[0]
    hits = await store.search(user, question.topic, limit=3, doc_id=doc.id)
    best = next((h for h in hits if _relevant(h, question.topic)), None)
    if best is None:
        if french:
            return f"Je n'ai rien trouvé sur {question.topic} dans « {doc.title} »."
        return f"I found nothing about {question.topic} in {_the(doc.title)}."
    passage = _spoken(best.text)
    heading = best.section.split(SECTION_SEP)[-1] if best.section else ""  # spoken: the nearest heading
    where = f", section {heading}" if heading else ""
    if french:
        return f"D'après « {doc.title} »{where} : {passage}"
    return f"From {_the(doc.title)}{where}: {passage}"
