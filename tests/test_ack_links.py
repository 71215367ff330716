"""The ntfy buttons' links: refused where a phone cannot reach them, signed over their expiry,
gone once used or expired (a unit test: the clock is the caller's)."""

from __future__ import annotations

import pytest

from edge.bridges.ack_links import AckLinks, AckUrlError, check_base_url


@pytest.mark.parametrize("url", [
    None, "http://127.0.0.1:8787", "http://localhost:8787", "http://0.0.0.0:8787",
    "http://[::1]:8787", "https://127.0.0.2/dwell", "http://shop.localhost:8787",
])
def test_a_base_url_a_phone_cannot_reach_is_refused_saying_how_to_set_it(url: str | None
                                                                         ) -> None:
    with pytest.raises(AckUrlError, match=r"ack_url.*phone cannot reach.*DWELL_NTFY__ACK_URL"):
        check_base_url(url, local_ok=False)
    check_base_url(url, local_ok=True)  # explicitly local: tests, a browser on the Pi


@pytest.mark.parametrize("url", ["http://192.168.1.10:8787", "https://dwell.example.org/acks",
                                 "http://pi.local:8787", "http://[fd00::10]:8787"])
def test_lan_and_public_urls_are_accepted(url: str) -> None:
    check_base_url(url, local_ok=False)


def links(now: list[float]) -> AckLinks:
    return AckLinks("http://192.168.1.10:8787/", b"k", clock=lambda: now[0])


def query(url: str) -> str:
    return url.split("?", 1)[1]


def test_a_link_answers_once_then_410() -> None:
    now = [1000.0]
    made = links(now)
    on_my_way = made.url("dwell/shop/entrance", "p1", "on_my_way", 1120.0)
    assert on_my_way.startswith("http://192.168.1.10:8787/ack?")
    status, _, link = made.check(query(on_my_way))
    assert status == 200 and link is not None
    assert (link.base, link.ping_id, link.action) == ("dwell/shop/entrance", "p1", "on_my_way")
    assert made.check(query(on_my_way))[:2] == (
        410, "this ping was already answered from this notification")
    # the other button of the same notification is spent too: one answer per ping
    dismiss = made.url("dwell/shop/entrance", "p1", "dismiss", 1120.0)
    assert made.check(query(dismiss))[0] == 410


def test_a_link_expires_with_its_ping_and_its_expiry_cannot_be_stretched() -> None:
    now = [1000.0]
    made = links(now)
    url = made.url("dwell/s/c", "p2", "on_my_way", 1120.0)
    assert made.check(query(url.replace("exp=1120", "exp=9999")))[0] == 403
    now[0] = 1120.0
    assert made.check(query(url))[:2] == (410, "this ping has expired: nothing to answer")


def test_a_released_link_can_be_pressed_again() -> None:
    """When the ack could not be published the press did nothing: it must work next time."""
    now = [1000.0]
    made = links(now)
    url = made.url("dwell/s/c", "p3", "dismiss", 1060.0)
    _, _, link = made.check(query(url))
    assert link is not None
    made.release(link)
    assert made.check(query(url))[0] == 200


@pytest.mark.parametrize("bad", ["", "base=a&ping=p&action=dismiss&sig=x",  # no exp
                                 "base=a&ping=p&action=hug&exp=5&sig=x",
                                 "base=a&action=dismiss&exp=5&sig=x"])
def test_malformed_presses_are_400(bad: str) -> None:
    assert links([0.0]).check(bad)[0] == 400
