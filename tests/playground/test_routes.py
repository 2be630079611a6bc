"""The playground's HTTP side: its page under the web app's Content-Security-Policy, refusals as
the API's `{"message": ...}` in the request's language, files as the bot uploaded them; and
nothing of it in an application without the playground (a real bot token)."""

from pathlib import Path

from api import create_app
from api.routes.playground import create_playground_router
from db.service import ReferralService
from playground.bot_api import Upload
from playground.people import Playground
from tests.api.conftest import api_settings, http_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8 + (3).to_bytes(4, "big") + (2).to_bytes(4, "big")


async def test_the_page_the_refusals_and_the_files(
    service: ReferralService, tmp_path: Path
) -> None:
    playground = Playground.create()
    router = create_playground_router(playground)
    app = create_app(api_settings(tmp_path), service, routers=[router])
    async with http_client(app) as client:
        page = await client.get("/playground/")
        assert page.status_code == 200 and "<title>Playground</title>" in page.text
        assert "/web/@version/" not in page.text  # its assets are versioned like the web app's
        assert "script-src 'self'" in page.headers["content-security-policy"]

        refused = await client.post(
            "/api/playground/people/",
            json={"name": "Ann", "language": "de", "phone": "+79120000001"},
            headers={"Accept-Language": "ru"},
        )
        assert refused.status_code == 400
        assert refused.json() == {"message": "Язык — en или ru."}
        assert playground.people == {}
        unknown = await client.get("/api/playground/people/5/")
        assert unknown.status_code == 404 and "message" in unknown.json()
        events = await client.get("/api/playground/people/5/events/")
        assert events.status_code == 404 and "message" in events.json()

        added = await client.post(
            "/api/playground/people/",
            json={"name": "Ann", "language": "en", "phone": "+79120000001"},
        )
        assert added.status_code == 201
        ann = added.json()["id"]
        sent = await client.post(f"/api/playground/people/{ann}/messages/", json={"text": "hi"})
        assert sent.json()["text"] == "hi"
        assert (await client.get(f"/api/playground/people/{ann}/")).json()["messages"] == [
            sent.json()
        ]

        await playground.api.call(
            "sendDocument", {"chat_id": ann, "document": Upload("my data.json", b"{}")}
        )
        await playground.api.call("sendPhoto", {"chat_id": ann, "photo": Upload("chart.png", PNG)})
        document, photo = playground.api.messages(ann)[-2:]
        download = await client.get(f"/api/playground/files/{document['document']['file_id']}")
        assert download.content == b"{}"
        assert (
            download.headers["content-disposition"] == "attachment; filename*=UTF-8''my%20data.json"
        )
        image = await client.get(f"/api/playground/files/{photo['photo'][-1]['file_id']}")
        assert image.headers["content-type"] == "image/png" and image.content == PNG
        missing = await client.get("/api/playground/files/nothing")
        assert missing.status_code == 404 and "message" in missing.json()


async def test_without_the_playground_its_paths_do_not_exist(
    service: ReferralService, tmp_path: Path
) -> None:
    app = create_app(api_settings(tmp_path, bot_token="1:real"), service)
    async with http_client(app) as client:
        for path in ("/playground/", "/api/playground/", "/api/playground/people/1/events/"):
            assert (await client.get(path)).status_code == 404, path
