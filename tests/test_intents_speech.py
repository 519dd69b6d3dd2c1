"""Intents on ordinary phrasing: verb slips, hedges, verb-first arithmetic, compound requests."""

from __future__ import annotations

import pytest

from jarvis.server.brain.context import TurnContext
from jarvis.server.brain.intents import IntentRecognizer, IntentReply
from jarvis.server.brain.timers import TimerManager


@pytest.fixture
def recognizer() -> IntentRecognizer:
    return IntentRecognizer(TimerManager())


async def ask(recognizer: IntentRecognizer, text: str, lang: str = "en") -> IntentReply | None:
    reply = await recognizer.handle(TurnContext(text=text, language=lang, satellite_id="kitchen"))
    assert reply is None or isinstance(reply, IntentReply)
    return reply


@pytest.mark.parametrize(
    ("text", "lang", "speech"),
    [
        ("Divide 100 by 8", "en", "100 divided by 8 is 12.5."),
        ("multiply 7 by 6", "en", "7 times 6 is 42."),
        ("subtract 3 from 10", "en", "10 minus 3 is 7."),
        ("add 12 and 30", "en", "12 plus 30 is 42."),
        ("divise 100 par 8", "fr", "100 divisé par 8 égale 12,5."),
        ("multiplie 6 par 7", "fr", "6 fois 7 égale 42."),
    ],
)
async def test_verb_first_arithmetic(recognizer: IntentRecognizer, text: str, lang: str, speech: str) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.speech == speech


async def test_verb_slips_and_hedges_reach_the_timer_intents(recognizer: IntentRecognizer) -> None:
    started = await ask(recognizer, "start a 10 minute timer for the pasta")
    assert started is not None and started.speech == "Pasta timer set for 10 minutes."
    hedged = await ask(recognizer, "set a timer for like ten minutes")
    assert hedged is not None and hedged.speech == "Timer set for 10 minutes."
    cancelled = await ask(recognizer, "cancelled the pasta timer")
    assert cancelled is not None and cancelled.speech == "Pasta timer cancelled."
    french = await ask(recognizer, "annulé le minuteur", "fr")
    assert french is not None and french.speech == "Minuteur annulé."


@pytest.mark.parametrize(
    "text",
    ["I like 5 apples", "divide the cake between 4 people", "what is the capital of France", "set the table"],
)
async def test_ordinary_sentences_still_go_to_the_agent(recognizer: IntentRecognizer, text: str) -> None:
    assert await ask(recognizer, text) is None


async def test_compound_request_is_answered_in_one_reply(recognizer: IntentRecognizer) -> None:
    reply = await ask(recognizer, "What time is it and what day is it?")
    assert reply is not None and reply.intent == "JarvisGetTime+JarvisGetDate"
    assert reply.speech.startswith("It's ") and "Today is " in reply.speech
    french = await ask(recognizer, "quelle heure est-il et quel jour sommes-nous", "fr")
    assert french is not None and french.speech.startswith("Il est ") and "Nous sommes le " in french.speech


async def test_compound_with_a_part_that_is_not_local_goes_to_the_agent(recognizer: IntentRecognizer) -> None:
    assert await ask(recognizer, "set a timer for 5 minutes and tell me a joke") is None
    assert recognizer.timers.list("kitchen") == []  # nothing was done for the part that matched


async def test_and_inside_one_intent_is_not_split(recognizer: IntentRecognizer) -> None:
    reply = await ask(recognizer, "set a timer for an hour and a half")
    assert reply is not None and reply.intent == "JarvisStartTimer"
    assert reply.speech == "Timer set for 1 hour and 30 minutes."


@pytest.mark.parametrize(
    ("text", "intent"),
    [("HR this, what day of the week is it?", "JarvisGetDate"), ("this, what's the time?", "JarvisGetTime")],
)
async def test_leftover_of_a_wake_phrase_before_a_whole_command(
    recognizer: IntentRecognizer, text: str, intent: str
) -> None:
    reply = await ask(recognizer, text)
    assert reply is not None and reply.intent == intent


@pytest.mark.parametrize(
    "text", ["well, tell me a joke", "so, what is the capital of France", "okay, thanks"]
)
async def test_a_lead_word_does_not_make_a_question_local(recognizer: IntentRecognizer, text: str) -> None:
    assert await ask(recognizer, text) is None


@pytest.mark.parametrize(
    ("text", "speech"),
    [("square root of 144", "The square root of 144 is 12."), ("square 9", "9 squared is 81.")],
)
async def test_square_and_square_root_said_alone(
    recognizer: IntentRecognizer, text: str, speech: str
) -> None:
    reply = await ask(recognizer, text)
    assert reply is not None and reply.speech == speech


@pytest.mark.parametrize(
    ("text", "lang", "speech"),
    [
        ("for ten minutes, set a timer", "en", "Timer set for 10 minutes."),
        ("set a timer 5 minutes", "en", "Timer set for 5 minutes."),
        ("wake me up in 20 minutes", "en", "Timer set for 20 minutes."),
        ("remind me in an hour", "en", "Timer set for 1 hour."),
        ("in five minutes, remind me", "en", "Timer set for 5 minutes."),
        ("tea timer, four minutes", "en", "Tea timer set for 4 minutes."),
        ("the pasta timer for 8 minutes", "en", "Pasta timer set for 8 minutes."),
        ("réveille-moi dans vingt minutes", "fr", "Minuteur réglé sur 20 minutes."),
        ("rappelle-moi dans 5 minutes", "fr", "Minuteur réglé sur 5 minutes."),
        ("pour dix minutes, mets un minuteur", "fr", "Minuteur réglé sur 10 minutes."),
        ("minuteur thé, quatre minutes", "fr", "Minuteur thé réglé sur 4 minutes."),
    ],
)
async def test_timer_orders_people_use(
    recognizer: IntentRecognizer, text: str, lang: str, speech: str
) -> None:
    """The duration first, a reminder's wording, or only a name before the timer word."""
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == "JarvisStartTimer" and reply.speech == speech


@pytest.mark.parametrize(
    "text",
    [
        "how long on the timer for 5 minutes",  # a question, not a timer named "how long on"
        "what is my timer for 5 minutes",
        "is there a timer for 5 minutes",
        "remind me in 10 minutes to call mom",  # a reminder with a task: the agent's (no such intent)
        "the history of timers for 5 minutes",
    ],
)
async def test_question_shaped_like_a_named_timer_starts_nothing(
    recognizer: IntentRecognizer, text: str
) -> None:
    reply = await ask(recognizer, text)
    assert reply is None or reply.intent != "JarvisStartTimer", reply
    assert not recognizer.timers.list()


async def test_stop_said_twice_in_one_breath_is_stop(recognizer: IntentRecognizer) -> None:
    reply = await ask(recognizer, "stop that's enough.")
    assert reply is not None and reply.intent == "JarvisStop"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("what's the time and the date", "en"),
        ("give me the time and the date", "en"),
        ("dis-moi l'heure et la date", "fr"),
    ],
)
async def test_compound_noun_phrase_borrows_the_first_parts_verb(
    recognizer: IntentRecognizer, text: str, lang: str
) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == "JarvisGetTime+JarvisGetDate"


async def test_compound_with_a_part_for_the_agent_is_the_agents(recognizer: IntentRecognizer) -> None:
    assert await ask(recognizer, "tell me the time and a joke") is None
    assert await ask(recognizer, "what's the time and the capital of Peru") is None


@pytest.mark.parametrize(
    ("text", "lang", "intent"),
    [
        ("sorry, what time is it again?", "en", "JarvisGetTime"),
        ("what day is it again", "en", "JarvisGetDate"),
        ("which year are we in?", "en", "JarvisGetDate"),
        ("what year is this", "en", "JarvisGetDate"),
        ("please get rid of all the timers", "en", "JarvisCancelTimer"),
        ("tell me the time and the day", "en", "JarvisGetTime+JarvisGetDate"),
        ("quelle heure est-il déjà ?", "fr", "JarvisGetTime"),
        ("c'est quelle année ?", "fr", "JarvisGetDate"),
    ],
)
async def test_ordinary_wordings_of_time_questions_and_cancel(
    recognizer: IntentRecognizer, text: str, lang: str, intent: str
) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == intent, reply


@pytest.mark.parametrize("text", ["what year was the Eiffel tower built", "get rid of the spiders", "again"])
async def test_near_misses_of_those_wordings_go_to_the_agent(recognizer: IntentRecognizer, text: str) -> None:
    assert await ask(recognizer, text) is None


@pytest.mark.parametrize(
    ("text", "lang", "verdict"),
    [
        ("hey jarvis what is twenty", "en", "incomplete"),  # "… three times four" may follow
        ("how much is nine", "en", "incomplete"),
        ("combien fait vingt", "fr", "incomplete"),
        ("what is twenty three times four", "en", "complete"),
        ("what is the capital of France", "en", "unknown"),
    ],
)
def test_an_arithmetic_question_that_is_only_a_number_is_unfinished(
    recognizer: IntentRecognizer, text: str, lang: str, verdict: str
) -> None:
    from jarvis.server.brain.completeness import judge

    assert judge(recognizer, text, lang).verdict == verdict


# Wordings found missing by fresh probes of everyday speech (written for the probe, not taken from the
# understanding benchmark's corpus): (text, language, intent).
EVERYDAY = [
    ("can you put a timer on for 20 minutes", "en", "JarvisStartTimer"),
    ("set an alarm for 10 minutes", "en", "JarvisStartTimer"),
    ("time 8 minutes for me", "en", "JarvisStartTimer"),
    ("let me know in 10 minutes", "en", "JarvisStartTimer"),
    ("tell me when 5 minutes are up", "en", "JarvisStartTimer"),
    ("I'd like a timer for 4 minutes", "en", "JarvisStartTimer"),
    ("give me a timer for the cookies, 12 minutes", "en", "JarvisStartTimer"),
    ("je voudrais un minuteur de douze minutes", "fr", "JarvisStartTimer"),
    ("what time have you got", "en", "JarvisGetTime"),
    ("tu peux me dire l'heure", "fr", "JarvisGetTime"),
    ("which day of the week is it", "en", "JarvisGetDate"),
    ("what month is it", "en", "JarvisGetDate"),
    ("is it monday today", "en", "JarvisGetDate"),
    ("en quel mois sommes-nous", "fr", "JarvisGetDate"),
    ("what's half of 64", "en", "JarvisCalculate"),
    ("la moitié de 64", "fr", "JarvisCalculate"),
    ("quelle est la racine carrée de quatre-vingt-un", "fr", "JarvisCalculate"),
    ("shh", "en", "JarvisStop"),
    ("no that's all", "en", "JarvisStop"),
    ("non rien", "fr", "JarvisStop"),
    ("Set a 5-minute timer.", "en", "JarvisStartTimer"),
    ("Set a 10-minute timer for the pasta.", "en", "JarvisStartTimer"),
    ("What's 3/4 of 100?", "en", "JarvisCalculate"),
    ("What is 2 to the 10th power?", "en", "JarvisCalculate"),
    ("would you mind setting a timer for 5 minutes", "en", "JarvisStartTimer"),
    ("go ahead and set a timer for 10 minutes", "en", "JarvisStartTimer"),
    ("can I get a timer for 6 minutes", "en", "JarvisStartTimer"),
    ("could you let me know what time it is", "en", "JarvisGetTime"),
    ("can you tell me what day it is", "en", "JarvisGetDate"),
    ("what do you get if you multiply 6 by 7", "en", "JarvisCalculate"),
    ("mets-moi un minuteur de 3 minutes", "fr", "JarvisStartTimer"),
    ("tu peux me mettre un minuteur de 4 minutes", "fr", "JarvisStartTimer"),
    ("tu sais quel jour on est", "fr", "JarvisGetDate"),
    ("on est quel jour de la semaine", "fr", "JarvisGetDate"),
    ("annule-le", "fr", "JarvisStop"),
    ("Combien font 100 divisés par 4 ?", "fr", "JarvisCalculate"),
    ("Combien font 3 multipliés par 4 ?", "fr", "JarvisCalculate"),
    ("Quelle est la date aujourd'hui ?", "fr", "JarvisGetDate"),
    ("Nous sommes quelle date ?", "fr", "JarvisGetDate"),
]
"""Said with no timer running."""
EVERYDAY_WITH_A_TIMER = [
    ("cancel that timer", "en", "JarvisCancelTimer"),
    ("I don't need the timer anymore", "en", "JarvisCancelTimer"),
    ("what's left on my timer", "en", "JarvisTimerStatus"),
    ("how's my timer doing", "en", "JarvisTimerStatus"),
    ("how many minutes are left", "en", "JarvisTimerStatus"),
    ("check the timer", "en", "JarvisTimerStatus"),
    ("il reste combien de minutes", "fr", "JarvisTimerStatus"),
    ("are any timers running", "en", "JarvisListTimers"),
    ("put the timer on hold", "en", "JarvisPauseTimer"),
    ("add another minute", "en", "JarvisAddTimerTime"),
    ("give it two more minutes", "en", "JarvisAddTimerTime"),
    ("rajoute deux minutes", "fr", "JarvisAddTimerTime"),
    ("is my timer still running", "en", "JarvisTimerStatus"),
    ("when will my timer go off", "en", "JarvisTimerStatus"),
    ("when does the timer end", "en", "JarvisTimerStatus"),
    ("turn the timer off", "en", "JarvisCancelTimer"),
    ("quand est-ce que le minuteur sonne", "fr", "JarvisTimerStatus"),
    ("Le minuteur, il en est où ?", "fr", "JarvisTimerStatus"),
    ("Combien de temps avant que le minuteur sonne ?", "fr", "JarvisTimerStatus"),
    ("Mets en pause le minuteur.", "fr", "JarvisPauseTimer"),
]
"""Said while one 10-minute (« dix minutes ») timer runs."""
NEAR_MISSES = [
    ("add five more minutes to the cake recipe", "en"),  # no timer has that name
    ("extend the deadline by 5 minutes", "en"),
    ("make the meeting 5 minutes longer", "en"),
    ("stop the music for now", "en"),
    ("what's the square of the hypotenuse", "en"),
    ("prolonge la réunion de 5 minutes", "fr"),
    ("enlève tes chaussures", "fr"),
    ("time to go", "en"),
    ("put the kettle on", "en"),
    ("check the weather", "en"),
    ("how's it going", "en"),
    ("let me know what you think", "en"),
    ("tell me when the store opens", "en"),
    ("set the alarm for 7 am", "en"),
    ("I don't need that anymore", "en"),
    ("give me a hug", "en"),
    ("how many minutes in an hour", "en"),
    ("is it monday or tuesday that the bins go out", "en"),
    ("half of the people left", "en"),
    ("I'd like a coffee", "en"),
    ("would you mind telling me a joke", "en"),
    ("go ahead and tell me about Paris", "en"),
    ("can I get a pizza delivered", "en"),
    ("when does the bakery open", "en"),
    ("turn the lights off", "en"),
    ("tu sais faire des crêpes", "fr"),
    ("mets-moi de la musique", "fr"),
]
"""Close to those wordings, for the agent: (text, language), said while a timer runs."""
SPOKEN = [
    ("take 3 from 10", "en", "10 minus 3 is 7."),
    ("what's the square of 7", "en", "7 squared is 49."),
    ("enlève 3 de 10", "fr", "10 moins 3 égale 7."),
    ("quel est le carré de 7", "fr", "7 au carré égale 49."),
    ("set a timer for five, no, ten minutes", "en", "Timer set for 10 minutes."),
    ("set a timer for five minutes, sorry, six minutes", "en", "Timer set for 6 minutes."),
    ("set a timer for 3 minutes, I mean 4 minutes", "en", "Timer set for 4 minutes."),
    ("what's a quarter... no, twenty five percent of four hundred", "en", "25 percent of 400 is 100."),
    ("mets un minuteur de cinq, non, dix minutes", "fr", "Minuteur réglé sur 10 minutes."),
    ("set a timer for a couple of minutes", "en", "Timer set for 2 minutes."),
    ("timer for pasta 10 min", "en", "Pasta timer set for 10 minutes."),
    ("start a timer for the pizza for 12 minutes", "en", "Pizza timer set for 12 minutes."),
    ("set a timer for my tea for 4 minutes", "en", "Tea timer set for 4 minutes."),
    ("12 minute timer for pizza", "en", "Pizza timer set for 12 minutes."),
    ("set a timer called fish and chips for 9 minutes", "en", "Fish and chips timer set for 9 minutes."),
    ("mets un minuteur pour le poulet pendant une heure", "fr", "Minuteur poulet réglé sur 1 heure."),
    ("set a timer for an hour and a quarter", "en", "Timer set for 1 hour and 15 minutes."),
    ("set a timer for 2 hours and a quarter", "en", "Timer set for 2 hours and 15 minutes."),
    ("set a timer for 2 and a half minutes", "en", "Timer set for 2 minutes and 30 seconds."),
    ("what's 3 quarters of 80", "en", "3 divided by 4 times 80 is 60."),
    ("what's two thirds of ninety", "en", "2 divided by 3 times 90 is 60."),
]
"""(text, language, the whole answer): corrections, timer names, fractions, verb-first arithmetic."""


async def _with_a_timer(recognizer: IntentRecognizer, lang: str) -> None:
    setup = "set a timer for 10 minutes" if lang == "en" else "mets un minuteur de dix minutes"
    assert await ask(recognizer, setup, lang) is not None


@pytest.mark.parametrize(("text", "lang", "intent"), EVERYDAY)
async def test_everyday_wordings(recognizer: IntentRecognizer, text: str, lang: str, intent: str) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == intent, reply


@pytest.mark.parametrize(("text", "lang", "intent"), EVERYDAY_WITH_A_TIMER)
async def test_everyday_wordings_about_a_running_timer(
    recognizer: IntentRecognizer, text: str, lang: str, intent: str
) -> None:
    await _with_a_timer(recognizer, lang)
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == intent, reply


@pytest.mark.parametrize(("text", "lang"), NEAR_MISSES)
async def test_near_misses_of_everyday_wordings_go_to_the_agent(
    recognizer: IntentRecognizer, text: str, lang: str
) -> None:
    await _with_a_timer(recognizer, lang)
    assert await ask(recognizer, text, lang) is None


@pytest.mark.parametrize(("text", "lang", "speech"), SPOKEN)
async def test_corrections_timer_names_and_fractions_get_the_right_answer(
    recognizer: IntentRecognizer, text: str, lang: str, speech: str
) -> None:
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.speech == speech, reply
    assert len(recognizer.timers.list("kitchen")) <= 1  # one timer, never the corrected one too


async def test_which_timer_by_its_duration_for_the_time_left(recognizer: IntentRecognizer) -> None:
    await ask(recognizer, "set a timer for 5 minutes")
    await ask(recognizer, "set a timer for 10 minutes")
    five = await ask(recognizer, "How much time is left on the 5-minute timer?")
    assert five is not None and five.speech.endswith("left on the timer for 5 minutes."), five
    assert "10 minutes" not in five.speech
    none = await ask(recognizer, "how long is left on the 3 minute timer")
    assert none is not None and none.speech == "There is no timer for 3 minutes."
    await ask(recognizer, "mets un minuteur de 7 minutes", "fr")
    french = await ask(recognizer, "il reste combien de temps sur le minuteur de 7 minutes", "fr")
    assert french is not None and "7 minutes" in french.speech and "10" not in french.speech, french
    cancelled = await ask(recognizer, "Cancel the 5-minute timer.")
    assert cancelled is not None and cancelled.intent == "JarvisCancelTimer"
    assert sorted(t.total_seconds for t in recognizer.timers.list("kitchen")) == [420, 600]


async def test_a_correction_to_something_that_is_no_command_does_nothing(
    recognizer: IntentRecognizer,
) -> None:
    assert await ask(recognizer, "set a timer for ten minutes, no, don't") is None
    assert recognizer.timers.list("kitchen") == []
    reply = await ask(recognizer, "what time is it? No, what day is it?")
    assert reply is not None and reply.intent == "JarvisGetDate"


async def test_how_long_left_on_a_named_timer(recognizer: IntentRecognizer) -> None:
    await ask(recognizer, "set a pizza timer for 12 minutes")
    reply = await ask(recognizer, "how long left on the pizza")
    assert reply is not None and reply.intent == "JarvisTimerStatus" and "pizza" in reply.speech, reply


@pytest.mark.parametrize("text", ["Mets pause.", "Reprends."])
async def test_a_bare_pause_or_resume_is_not_taken_for_the_timer(
    recognizer: IntentRecognizer, text: str
) -> None:
    """Said alone it may be the music (Home Assistant, the agent): only with the timer word."""
    assert await ask(recognizer, "mets un minuteur de cinq minutes", "fr") is not None
    assert await ask(recognizer, text, "fr") is None


async def test_there_for_the_before_timer_and_is_there_a_timer(recognizer: IntentRecognizer) -> None:
    await ask(recognizer, "set an egg timer for 5 minutes")
    listed = await ask(recognizer, "is there a timer running")
    assert listed is not None and listed.intent == "JarvisListTimers"
    cancelled = await ask(recognizer, "stop there timer")  # whisper's "there" for "the"
    assert cancelled is not None and cancelled.speech == "Egg timer cancelled."


async def test_a_new_one_after_cancelling_is_a_timer(recognizer: IntentRecognizer) -> None:
    await ask(recognizer, "set a timer for 5 minutes")
    reply = await ask(recognizer, "cancel the timer and set a new one for 10 minutes")
    assert reply is not None and reply.intent == "JarvisCancelTimer+JarvisStartTimer", reply
    assert [t.total_seconds for t in recognizer.timers.list("kitchen")] == [600]


@pytest.mark.parametrize(
    ("text", "lang", "intent", "total_s"),
    [
        ("stop the timer for now", "en", "JarvisPauseTimer", 600),  # for now: a pause, not a name
        ("keep going with the timer", "en", "JarvisResumeTimer", 600),
        ("add five more minutes", "en", "JarvisAddTimerTime", 900),
        ("extend the timer by 5 minutes", "en", "JarvisAddTimerTime", 900),
        ("make the timer 5 minutes longer", "en", "JarvisAddTimerTime", 900),
        ("mets le minuteur sur pause", "fr", "JarvisPauseTimer", 600),
        ("prolonge le minuteur de 5 minutes", "fr", "JarvisAddTimerTime", 900),
        ("enlève une minute", "fr", "JarvisAddTimerTime", 540),
    ],
)
async def test_pausing_resuming_and_changing_the_running_timer(
    recognizer: IntentRecognizer, text: str, lang: str, intent: str, total_s: int
) -> None:
    await _with_a_timer(recognizer, lang)
    reply = await ask(recognizer, text, lang)
    assert reply is not None and reply.intent == intent, reply
    assert [t.total_seconds for t in recognizer.timers.list("kitchen")] == [total_s]


async def test_time_added_to_a_named_timer_without_the_word_timer(recognizer: IntentRecognizer) -> None:
    await ask(recognizer, "set a pasta timer for 10 minutes")
    reply = await ask(recognizer, "add 2 minutes to the pasta")
    assert reply is not None and reply.intent == "JarvisAddTimerTime" and "pasta" in reply.speech, reply
