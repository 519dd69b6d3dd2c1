"""``jarvis memory show|edit|forgotten|restore|export``: what Jarvis remembers, from the command line.

    jarvis memory show                      # the users it knows
    jarvis memory show --user ann           # profile, dynamic memory, facts, recent turns
    jarvis memory edit --user ann name=Ann age=34 "interests=chess, jazz"
    jarvis memory edit --user ann --add-fact "my bike is blue" --forget-fact "old phone"
    jarvis memory forgotten --user ann      # facts that were forgotten (they are kept)
    jarvis memory restore --user ann 12     # bring forgotten fact 12 back
    jarvis memory forgotten --user ann --purge   # delete the forgotten facts for good
    jarvis memory export [--user ann] [-o memory.json]

``--forget-fact TEXT`` forgets the one fact that TEXT designates clearly; when several match it
forgets nothing and lists them: forget by id then (``--forget-fact '#12'``).

The same operations are methods of :class:`jarvis.server.brain.memory.MemoryStore` (used by the web page).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from jarvis.protocol.paths import data_dir

from .memory import DB_NAME, PROFILE_FIELDS, MemoryError_, MemoryStore, MemoryWriteError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where memory.sqlite3 lives (default: Jarvis data dir)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="list users, or show one user's memory")
    show.add_argument("--user", help="user id")
    show.add_argument("--turns", type=int, default=10, help="recent turns to show (default 10)")
    edit = sub.add_parser("edit", help="edit a user's profile fields or facts")
    edit.add_argument("--user", required=True, help="user id")
    edit.add_argument(
        "assignments",
        nargs="*",
        metavar="FIELD=VALUE",
        help=f"fields: {', '.join(PROFILE_FIELDS)} (empty clears)",
    )
    edit.add_argument("--add-fact", action="append", default=[], metavar="TEXT")
    edit.add_argument("--forget-fact", action="append", default=[], metavar="TEXT|#ID")
    forgotten = sub.add_parser("forgotten", help="list a user's forgotten facts (they are kept)")
    forgotten.add_argument("--user", required=True, help="user id")
    forgotten.add_argument("--purge", action="store_true", help="delete them for good")
    restore = sub.add_parser("restore", help="bring back forgotten facts")
    restore.add_argument("--user", required=True, help="user id")
    restore.add_argument("ids", nargs="+", type=int, metavar="ID", help="fact ids (see 'forgotten')")
    export = sub.add_parser("export", help="export as JSON")
    export.add_argument("--user", help="one user (default: everyone)")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


async def _show(store: MemoryStore, args: argparse.Namespace) -> int:
    if not args.user:
        users = await store.list_users()
        print("\n".join(users) if users else "No users yet.")
        return 0
    profile = await store.get_profile(args.user)
    print(f"User {args.user} (onboarding: {profile.onboarding})")
    for field in PROFILE_FIELDS:
        print(f"  {field}: {getattr(profile, field) or '-'}")
    summaries = await store.summaries(args.user)
    if summaries:
        last = summaries[-1]
        print(
            f"Dynamic memory (version {last['version']}, {_when(last['created_at'])}):\n  {last['summary']}"
        )
    else:
        print("Dynamic memory: none yet")
    facts = await store.list_facts(args.user)
    print("Facts:" if facts else "Facts: none")
    for fact in facts:
        print(f"  [{fact.id}] {fact.fact}")
    turns = await store.recent_turns(args.user, None, args.turns)
    print(f"Last {len(turns)} turns:" if turns else "Turns: none")
    for turn in turns:
        when = _when(turn.created_at)
        print(f"  #{turn.id} {when} [{turn.conversation_id}] {turn.user_text!r} -> {turn.assistant_text!r}")
    return 0


async def _edit(store: MemoryStore, args: argparse.Namespace) -> int:
    fields: dict[str, str | None] = {}
    for item in args.assignments:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: expected FIELD=VALUE, got {item!r}", file=sys.stderr)
            return 2
        fields[key.strip()] = value.strip() or None
    if not (fields or args.add_fact or args.forget_fact):
        print("error: nothing to edit (give FIELD=VALUE, --add-fact or --forget-fact)", file=sys.stderr)
        return 2
    try:
        if fields:
            profile = await store.update_profile(args.user, **fields)
            print("Profile: " + ", ".join(f"{f}={getattr(profile, f)!r}" for f in PROFILE_FIELDS))
        for fact in args.add_fact:
            print(f"Added fact #{await store.add_fact(args.user, fact)}: {fact}")
        for text in args.forget_fact:
            if text.startswith("#") and text[1:].isdigit():
                done = await store.forget_fact_id(args.user, int(text[1:]))
                print(f"Forgot fact {text}" if done else f"No fact {text}")
                continue
            result = await store.forget_fact(args.user, text)
            if result.removed:
                print("Forgot: " + "; ".join(f.fact for f in result.removed))
            elif result.candidates:
                print(f"Several facts match {text!r}; nothing forgotten. Forget one by id ('#ID'):")
                for fact in result.candidates:
                    print(f"  [{fact.id}] {fact.fact}")
            else:
                print(f"No fact matches {text!r} clearly")
    except (MemoryError_, MemoryWriteError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


async def _forgotten(store: MemoryStore, args: argparse.Namespace) -> int:
    if args.purge:
        try:
            print(f"Deleted {await store.purge_forgotten(args.user)} forgotten fact(s) for good")
        except MemoryWriteError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    facts = await store.forgotten_facts(args.user)
    print("Forgotten facts (restore with 'jarvis memory restore --user USER ID'):" if facts else "None")
    for fact in facts:
        print(f"  [{fact.id}] {fact.fact}")
    return 0


async def _restore(store: MemoryStore, args: argparse.Namespace) -> int:
    status = 0
    for fact_id in args.ids:
        try:
            done = await store.restore_fact(args.user, fact_id)
        except MemoryWriteError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"Restored fact {fact_id}" if done else f"No forgotten fact {fact_id} for {args.user}")
        status = status if done else 1
    return status


async def _export(store: MemoryStore, args: argparse.Namespace) -> int:
    data = await store.export(args.user)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


async def run(args: argparse.Namespace) -> int:
    store = await MemoryStore.open(data_dir(args.data_dir) / DB_NAME)
    try:
        action = {
            "show": _show,
            "edit": _edit,
            "forgotten": _forgotten,
            "restore": _restore,
            "export": _export,
        }[args.action]
        return await action(store, args)
    finally:
        await store.close()
