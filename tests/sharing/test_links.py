"""Invite links: each kind made in one place, and the kind a member is given."""

from urllib.parse import parse_qs, urlsplit

from sharing.links import InviteLinks, deep_link, share_url, web_link


def test_the_deep_link_starts_the_bot_with_the_code() -> None:
    assert deep_link("club_bot", "K7M2QX") == "https://t.me/club_bot?start=K7M2QX"


def test_the_web_link_replaces_the_addresss_query_and_fragment() -> None:
    assert web_link("https://club.example/", "K7M2QX") == "https://club.example/?ref=K7M2QX"
    assert web_link("https://club.example/app?x=1#top", "A3BC9D") == (
        "https://club.example/app?ref=A3BC9D"
    )


def test_the_share_url_carries_the_link_and_the_text_encoded() -> None:
    url = share_url("https://t.me/club_bot?start=K7M2QX", "Join me & get 5%")
    assert url.startswith("https://t.me/share/url?")
    assert "+" not in url  # spaces as %20 (quote), not as plus signs
    assert parse_qs(urlsplit(url).query) == {
        "url": ["https://t.me/club_bot?start=K7M2QX"],
        "text": ["Join me & get 5%"],
    }


def test_members_get_the_bots_deep_link_when_it_runs() -> None:
    links = InviteLinks("club_bot", "https://club.example/")
    assert links.link("K7M2QX", base_url="http://testserver/") == deep_link("club_bot", "K7M2QX")
    assert links.template(base_url="http://testserver/") == "https://t.me/club_bot?start={code}"


def test_without_a_bot_members_get_the_web_apps_link() -> None:
    configured = InviteLinks(None, "https://club.example/app")
    assert configured.link("K7M2QX", base_url="http://testserver/") == (
        "https://club.example/app?ref=K7M2QX"
    )
    unconfigured = InviteLinks(None, None)
    assert unconfigured.template(base_url="http://testserver/") == "http://testserver/?ref={code}"
