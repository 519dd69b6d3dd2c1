"""Memory without an LLM: "my name is X", "remember that ...", "forget that ...", "what do you remember".

A fast path (tried after the hassil intents): it stores into and reads from the speaker's own memory
(``ctx.user_id``, which only an authenticated peer or configuration sets), in English and French.
With an LLM these still answer locally, which is faster and never depends on the model's tool use.
A whole command is matched ("my name is Camille"), never a phrase inside a longer sentence; the
onboarding answer, a free introduction, is read by :func:`jarvis.server.brain.persona.parse_introduction`.
When nothing matched, leading discourse words ("so, my name is Camille") and earlier sentences
("Hello. My name is Camille.") are tried away, as for the intents (:func:`.normalize.discourse_leads`).

"Forget that ..." / « oublie que ... » forgets the one fact the words designate clearly
(:func:`jarvis.server.brain.memory.match_facts`); when several facts match it forgets nothing and asks
which one. Words that designate nothing ("forget it") are not this module's: the stop intent or the
LLM gets them. When the data dir cannot be written, the answer says so and why
(:meth:`MemoryWriteError.apology`), instead of pretending or failing the turn.
"""

from __future__ import annotations

import re

from .context import Reply, TurnContext
from .intents import IntentReply, base_language
from .memory import Fact, MemoryStore, MemoryWriteError, fact_words
from .normalize import discourse_leads, sentences

SET_NAME = "JarvisSetName"
REMEMBER = "JarvisRemember"
RECALL = "JarvisRecall"
FORGET = "JarvisForget"
FORGET_NAME = "JarvisForgetName"

_NAME = r"(?P<name>[^\W\d_][^\W\d_'’-]*(?:[ '’-][^\W\d_][^\W\d_'’-]*)?)"
"""One or two words of letters ("Camille", "Jean-Pierre", "Anne Marie")."""
_GREETING_EN = r"(?:(?:hi|hello|hey)(?: jarvis)?,? )?"
"""A greeting before an introduction: "Hey, my name's Tom"."""
_NAME_PATTERNS = {
    "en": [
        rf"^{_GREETING_EN}my name is {_NAME}$",
        rf"^{_GREETING_EN}(?:you can |please )?call me {_NAME}$",
        rf"^{_GREETING_EN}i'?m called {_NAME}$",
        rf"^{_GREETING_EN}my name's {_NAME}$",
        rf"^{_GREETING_EN}i go by {_NAME}$",
    ],
    "fr": [
        rf"^(?:bonjour,? )?je m'appelle {_NAME}$",
        rf"^(?:tu peux |vous pouvez )?m'appeler {_NAME}$",
        rf"^appelle[- ]moi {_NAME}$",
        rf"^appelez[- ]moi {_NAME}$",
        rf"^mon (?:pr[ée])?nom,? (?:est|c'est) {_NAME}$",
    ],
}
_POLITE_EN = r"(?:(?:can|could|would|will) you (?:please )?|please )?"
"""A request's polite opening: "could you please forget …". "can you remember …" asks to store only
with "that" ("can you remember the name of that song" is a question)."""
_POLITE_FR = r"(?:(?:tu peux|peux-tu|pourrais-tu|vous pouvez|pouvez-vous|pourriez-vous) )?"
_REMEMBER_PATTERNS = {
    "en": [
        r"^(?:please )?remember,? (?:that )?(?P<fact>.{3,200})$",
        r"^(?:please )?(?:keep|bear) in mind,? (?:that )?(?P<fact>.{3,200})$",
        rf"^{_POLITE_EN}remember that (?P<fact>.{{3,200}})$",
        r"^don'?t forget (?:that )?(?P<fact>.{3,200})$",
        r"^(?:please )?(?:make|take) a note (?:that )?(?P<fact>.{3,200})$",
        r"^(?:please )?note (?:down )?that (?P<fact>.{3,200})$",
    ],
    "fr": [
        r"^(?:souviens[- ]toi|rappelle[- ]toi|retiens|n'oublie pas) (?:que |qu')?(?P<fact>.{3,200})$",
        r"^(?:note|notez|prends note|prenez note) (?:que |qu')(?P<fact>.{3,200})$",
        rf"^{_POLITE_FR}(?:te souvenir|retenir|noter|vous souvenir) (?:que |qu')(?P<fact>.{{3,200}})$",
    ],
}
_FORGET_NAME_PATTERNS = {
    "en": [rf"^{_POLITE_EN}forget my name$"],
    "fr": [r"^(?:oublie|oubliez) mon (?:pr[ée])?nom$"],
}
_FORGET_PATTERNS = {
    "en": [rf"^{_POLITE_EN}forget (?:that |about )?(?P<fact>.{{2,200}})$"],
    "fr": [r"^(?:oublie|oubliez) (?:que |qu'|ce que je (?:t'ai|vous ai) dit sur )?(?P<fact>.{2,200})$"],
}
_RECALL_PATTERNS = {
    "en": [
        r"^what do you (?:remember|know) about me$",
        r"^(?:(?:can|could) you )?tell me what you (?:remember|know) about me$",
        r"^what have you remembered(?: about me)?$",
        r"^what do you remember$",
        r"^what have i told you(?: about (?:me|myself))?$",
        r"^what do you know about me so far$",
    ],
    "fr": [
        r"^qu'?est[- ]ce que tu (?:sais|retiens|te rappelles) (?:sur|de) moi$",
        r"^que sais[- ]tu (?:sur|de) moi$",
        r"^de quoi tu te souviens(?:,? (?:sur moi|à mon sujet|a mon sujet|de moi))?$",
        r"^tu te (?:souviens|rappelles) de quoi(?:,? (?:sur moi|à mon sujet|a mon sujet|de moi))?$",
        r"^qu'?est[- ]ce que je t'ai dit(?: sur moi)?$",
    ],
}
_NOT_NAMES = frozenset(
    {
        "not",
        "sure",
        "sorry",
        "back",
        "later",
        "here",
        "tired",
        "busy",
        "important",
        "secret",
        "pas",
        "fatigue",
        # a determiner or a question word is no name: "call me a taxi", « je m'appelle comment déjà »
        "a", "an", "the", "some", "un", "une", "le", "la", "les", "des", "my", "your", "mon", "ton",
        "what", "who", "how", "again", "comment", "quoi", "qui", "deja", "déjà", "encore",
    }
)  # fmt: skip


_NOT_I_AM = _NOT_NAMES | frozenset(
    {
        "ready", "done", "fine", "good", "okay", "ok", "home", "hungry", "cold", "hot", "bored", "sick",
        "late", "leaving", "going", "new", "alone", "awake", "listening", "serious", "joking", "kidding",
        "confused", "lost", "happy", "sad", "afraid", "scared", "jarvis", "american", "french", "english",
        "british", "canadian", "i", "in", "out", "off", "on", "up", "well", "sorry", "yes", "no", "what",
        "la", "ici", "pret", "prête", "prete", "fatigué", "fatiguee", "fatiguée", "content", "contente",
        "désolé", "desole", "désolée", "occupé", "occupe", "malade", "français", "francaise", "française",
    }
)  # fmt: skip
"""Words that follow "I'm" / « je suis » without being a name, even capitalized at a sentence start
(and every word of :data:`_NOT_NAMES`)."""


_QUESTION_LEADS = frozenset(
    {"when", "what", "how", "who", "why", "where", "which", "if", "whether",
     "quand", "comment", "pourquoi", "où", "ou", "qui", "quoi", "si"}
)  # fmt: skip


def _a_fact(fact: str, forget: bool = False) -> bool:
    """``fact`` says something to keep or forget: words that tell it apart, not a question ("remember
    when we went to Paris"); what to forget is no second request after a comma ("forget about the
    weather, tell me a joke"; a fact to keep may have commas: "on Tuesday, I see the dentist")."""
    if forget and "," in fact:
        return False
    clauses = [clause.split() for clause in fact.split(",")]
    if any(clause and clause[0].casefold() in _QUESTION_LEADS for clause in clauses):
        return False  # a question, at the start or after a comma ("remember the Alamo, who said that")
    return bool(fact_words(fact))


def _compile(table: dict[str, list[str]]) -> dict[str, list[re.Pattern[str]]]:
    return {lang: [re.compile(p, re.I) for p in patterns] for lang, patterns in table.items()}


_NAMES, _REMEMBERS, _RECALLS, _FORGETS, _FORGET_NAMES = (
    _compile(_NAME_PATTERNS),
    _compile(_REMEMBER_PATTERNS),
    _compile(_RECALL_PATTERNS),
    _compile(_FORGET_PATTERNS),
    _compile(_FORGET_NAME_PATTERNS),
)


def _clean(text: str) -> str:
    return " ".join(text.replace("’", "'").strip().rstrip(".!?").split())


_I_AM_PATTERNS = {
    "en": re.compile(r"^(?:hi,? |hello,? |hey,? )?(?:i'?m|i am) (?P<name>[^\W\d_][^\W\d_'’-]*)$", re.I),
    "fr": re.compile(r"^(?:bonjour,? |salut,? )?(?:je suis|moi c'est) (?P<name>[^\W\d_][^\W\d_'’-]*)$", re.I),
}
""""I'm Emma", « je suis Claire »: a name only as the STT wrote it, capitalized (see :func:`parse_name`)."""


def parse_name(text: str, language: str) -> str | None:
    """ "My name is camille." -> "Camille"; None when the sentence does not give a name.

    "I'm X" / « je suis X » says a name only when X is one word the STT capitalized as a name
    ("I'm Emma", not "I'm tired" or "I'm back"), and not a word that often follows "I'm"."""
    cleaned = _clean(text)
    lang = base_language(language)
    for pattern in _NAMES.get(lang, []):
        if (match := pattern.match(cleaned)) is not None:
            name = match.group("name")
            if any(part in _NOT_NAMES for part in name.casefold().split()):
                return None
            return " ".join(part[:1].upper() + part[1:] for part in name.split())
    i_am = _I_AM_PATTERNS.get(lang)
    if i_am is not None and (match := i_am.match(cleaned)) is not None:
        name = match.group("name")
        if name[:1].isupper() and name[1:].islower() and name.casefold() not in _NOT_I_AM:
            return name
    return None


class MemoryIntents:
    """The fast path for the speaker's own memory."""

    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def handle(self, ctx: TurnContext) -> Reply | None:
        lang = base_language(ctx.language)
        try:
            return await self._handle(ctx, lang)
        except MemoryWriteError as err:  # say why, do not pretend (and do not fail the turn)
            return IntentReply(speech=err.apology(lang), intent="JarvisMemoryUnavailable")

    async def _handle(self, ctx: TurnContext, lang: str) -> Reply | None:
        text = _clean(ctx.text)
        if (reply := await self._handle_text(ctx, text, lang)) is not None:
            return reply
        # Nothing matched: without leading discourse words ("so, remember that ...", « alors, oublie
        # mon nom »), or the last sentence alone when no earlier one is a memory command ("Hello. My
        # name is Camille.").
        earlier = sentences(text)[:-1]
        last = not any(self._matches(_clean(sentence), lang) for sentence in earlier)
        for other in discourse_leads(text, lang, last_sentence=last):
            if (reply := await self._handle_text(ctx, _clean(other), lang)) is not None:
                return reply
        return None

    @staticmethod
    def _matches(text: str, lang: str) -> bool:
        """``text`` is one of this module's commands (nothing is stored or forgotten)."""
        if parse_name(text, lang):
            return True
        if any(pattern.match(text) for table in (_FORGET_NAMES, _RECALLS) for pattern in table.get(lang, [])):
            return True
        return any(
            (match := pattern.match(text)) is not None and _a_fact(match.group("fact"), forget)
            for forget, table in ((False, _REMEMBERS), (True, _FORGETS))
            for pattern in table.get(lang, [])
        )

    async def _handle_text(self, ctx: TurnContext, text: str, lang: str) -> Reply | None:
        fr = lang == "fr"
        if name := parse_name(text, lang):
            await self.memory.update_profile(ctx.user_id, name=name)
            speech = (
                f"Enchanté, {name}. Je m'en souviendrai."
                if fr
                else f"Nice to meet you, {name}. I'll remember."
            )
            return IntentReply(speech=speech, intent=SET_NAME)
        for pattern in _REMEMBERS.get(lang, []):
            # "remember that" / "remember this" designates no fact: the agent knows what was said
            if (match := pattern.match(text)) is not None and _a_fact(match.group("fact")):
                await self.memory.add_fact(ctx.user_id, match.group("fact"))
                return IntentReply(
                    speech="C'est noté." if fr else "Okay, I'll remember that.", intent=REMEMBER
                )
        if any(pattern.match(text) for pattern in _FORGET_NAMES.get(lang, [])):
            return IntentReply(speech=await self._forget_name(ctx.user_id, fr), intent=FORGET_NAME)
        for pattern in _FORGETS.get(lang, []):
            if (match := pattern.match(text)) is not None and _a_fact(match.group("fact"), forget=True):
                return IntentReply(
                    speech=await self._forget(ctx.user_id, match.group("fact"), fr), intent=FORGET
                )
        if any(pattern.match(text) for pattern in _RECALLS.get(lang, [])):
            return IntentReply(speech=await self._recall(ctx.user_id, fr), intent=RECALL)
        return None

    async def _forget_name(self, user_id: str, fr: bool) -> str:
        if not (await self.memory.get_profile(user_id)).name:
            return "Je ne connais pas votre nom." if fr else "I don't know your name anyway."
        await self.memory.update_profile(user_id, name=None)
        return "D'accord, j'ai oublié votre nom." if fr else "Okay, I've forgotten your name."

    async def _forget(self, user_id: str, words: str, fr: bool) -> str:
        result = await self.memory.forget_fact(user_id, words)
        if result.removed:
            fact = result.removed[0].fact
            return f"D'accord, j'ai oublié : {fact}." if fr else f"Okay, I've forgotten that {fact}."
        if not result.candidates:
            return "Je ne me souviens de rien de tel." if fr else "I don't remember anything like that."
        listed = _or_list(result.candidates, fr)
        return f"Lequel dois-je oublier : {listed} ?" if fr else f"Which one should I forget: {listed}?"

    async def _recall(self, user_id: str, fr: bool) -> str:
        profile = await self.memory.get_profile(user_id)
        facts = [f.fact for f in await self.memory.list_facts(user_id)]
        parts = []
        if profile.name:
            parts.append(f"Vous vous appelez {profile.name}." if fr else f"Your name is {profile.name}.")
        if facts:
            joined = "; ".join(facts[-5:])
            parts.append(f"Vous m'avez dit : {joined}." if fr else f"You told me: {joined}.")
        if not parts:
            return "Je ne sais encore rien sur vous." if fr else "I don't know anything about you yet."
        return " ".join(parts)


def _or_list(facts: list[Fact], fr: bool, most: int = 3) -> str:
    """ "a, b, or c" (« a, b ou c »), and how many more beyond ``most``."""
    shown = [f.fact for f in facts[:most]]
    more = len(facts) - len(shown)
    if more:
        shown.append(f"ou {more} autre(s)" if fr else f"or {more} more")
        return ", ".join(shown)
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + (" ou " if fr else ", or ") + shown[-1]
