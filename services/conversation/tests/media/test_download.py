"""The media downloader's URL handling: rewritten to the base URL, Twilio's only, never raising."""

from __future__ import annotations

import random

import aiohttp
import pytest
from pydantic import SecretStr

from chatbot_conversation.media.download import MediaDownloader, MediaUnavailableError
from chatbot_conversation.retry import RetryPolicy
from chatbot_devstack import ACCOUNT_SID

MEDIA_PATH = "/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
BROKEN_URLS = (
    f"https://xn--a.twilio.com{MEDIA_PATH}",  # bad punycode: decoding the host raises
    f"https://u:p@api.twilio.com{MEDIA_PATH}",  # credentials in the URL
    f"https://[::1]u:p@@{MEDIA_PATH}",  # yarl's parser raises IndexError
    f"https://api.twilio.com:99999{MEDIA_PATH}",
    "https://\u2100.twilio.com/x",
)


def downloader(session: aiohttp.ClientSession, base_url: str | None) -> MediaDownloader:
    return MediaDownloader(
        session,
        account_sid=ACCOUNT_SID,
        auth_token=SecretStr("token"),
        base_url=base_url,
        max_bytes=1024,
        timeout=1.0,
        policy=RetryPolicy(max_attempts=1, initial=0.1, maximum=0.1, budget=1),
        rng=random.Random(1),
    )


async def test_media_urls_are_rewritten_to_the_base_url_or_must_be_twilios() -> None:
    async with aiohttp.ClientSession() as session:
        rewriting = downloader(session, "http://127.0.0.1:8090/twilio/")
        twilio = downloader(session, None)
        assert str(rewriting.locate(f"https://api.twilio.com{MEDIA_PATH}?x=1")) == (
            f"http://127.0.0.1:8090/twilio{MEDIA_PATH}?x=1"
        )
        url = f"https://api.twilio.com{MEDIA_PATH}"
        assert str(twilio.locate(url)) == url
        regional = f"https://api.dublin.ie1.twilio.com{MEDIA_PATH}"
        assert str(twilio.locate(regional)) == regional
        for untrusted in (
            f"http://api.twilio.com{MEDIA_PATH}",  # credentials never travel in clear
            f"https://api.twilio.com.evil.example{MEDIA_PATH}",
            f"https://eviltwilio.com{MEDIA_PATH}",
        ):
            with pytest.raises(MediaUnavailableError) as refused:
                twilio.locate(untrusted)
            assert refused.value.failure.kind == "untrusted_url"
            assert untrusted not in str(refused.value)
        for malformed in ("not a url", "/relative/path", "ftp://api.twilio.com/x"):
            with pytest.raises(MediaUnavailableError) as refused:
                rewriting.locate(malformed)
            assert refused.value.failure.kind == "bad_url"


async def test_a_media_url_that_breaks_url_handling_is_the_attachments_failure() -> None:
    policy = RetryPolicy(max_attempts=1, initial=0.1, maximum=0.1, budget=1)
    async with aiohttp.ClientSession() as session:
        for base in ("http://127.0.0.1:1/twilio", None):
            downloader = MediaDownloader(
                session,
                account_sid=ACCOUNT_SID,
                auth_token=SecretStr("token"),
                base_url=base,
                max_bytes=1024,
                timeout=1.0,
                policy=policy,
                rng=random.Random(1),
            )
            for url in BROKEN_URLS:
                with pytest.raises(MediaUnavailableError) as failed:
                    await downloader.download(
                        url, allowed=frozenset({"image/jpeg"}), announced="image/jpeg"
                    )
                if base is None:  # rewritten, a URL's host is not looked at (here: refused)
                    assert failed.value.failure.kind == "bad_url", url
                assert url not in str(failed.value)
