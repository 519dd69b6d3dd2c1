"""The web API for documents over real HTTPS: the session's user only, whatever the request says."""

from __future__ import annotations

from pathlib import Path

from knowledge_files import write_corpus
from test_knowledge_access import leaks
from test_web_api import NO_HUB, TOKEN, client, login

from jarvis.server.knowledge.store import DB_NAME, DocumentStore
from jarvis.server.web.__main__ import start_web


async def test_documents_api_sees_only_what_the_session_user_may_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = write_corpus(tmp_path / "docs")
    store = await DocumentStore.open(data / DB_NAME)
    boiler = (await store.add("ann", files["boiler"], "household")).document.id
    diary = (await store.add("bob", files["diary"], "private")).document.id
    await store.close()
    web = await start_web(token=TOKEN, hub_uri=NO_HUB, port=0, data_dir=data)
    try:
        async with client() as anonymous:
            async with anonymous.get(web.url + "api/documents/search", params={"q": "spare key"}) as resp:
                assert resp.status == 401
        async with client() as session:
            await login(session, web, "ann")
            async with session.get(web.url + "api/documents", params={"user": "bob"}) as resp:
                listed = await resp.json()
            assert [d["title"] for d in listed["documents"]] == ["Boiler manual"]
            async with session.get(web.url + f"api/documents/{boiler}") as resp:
                assert resp.status == 200 and (await resp.json())["mine"] is True
            async with session.get(web.url + f"api/documents/{diary}") as resp:
                theirs = (resp.status, await resp.json())
            async with session.get(web.url + "api/documents/999") as resp:
                nothing = (resp.status, await resp.json())
            assert theirs == nothing == (404, {"error": "not-found", "message": "no such document"})
            for query in ("spare key flowerpot", "Bob's diary", "birthday bracelet"):
                params = {"q": query, "k": "20", "user": "bob", "user_id": "bob"}
                async with session.get(web.url + "api/documents/search", params=params) as resp:
                    body = await resp.json()
                assert resp.status == 200 and body["hits"], body
                assert all(h["document"] != diary and not leaks(h["text"]) for h in body["hits"])
            async with session.get(web.url + "api/documents/search", params={"q": "pressure gauge"}) as resp:
                hits = (await resp.json())["hits"]
            assert hits[0]["title"] == "Boiler manual" and hits[0]["section"] == "Installation > Pressure"
            async with session.get(web.url + "api/documents/search", params={"q": " "}) as resp:
                assert resp.status == 400
        async with client() as bob:  # the control: Bob's own session reads his diary
            await login(bob, web, "bob")
            async with bob.get(web.url + "api/documents/search", params={"q": "spare key"}) as resp:
                assert "flowerpot" in (await resp.json())["hits"][0]["text"]
    finally:
        await web.stop()
