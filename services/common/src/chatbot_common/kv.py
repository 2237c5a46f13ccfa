"""Listing a KV bucket's keys by subject pattern, reliably."""

from __future__ import annotations

from nats.js import JetStreamContext

from .topology import Bucket

__all__ = ["bucket_keys"]


async def bucket_keys(js: JetStreamContext, bucket: Bucket, pattern: str = ">") -> list[str]:
    """The keys of ``bucket`` matching the subject ``pattern``, deleted ones included.

    Read from the bucket's stream's subjects, a snapshot: ``KeyValue.keys`` filters match
    substrings, and a KV watch can report the end of the current values before it delivered
    them all.
    """
    prefix = f"$KV.{bucket.name}."
    info = await js.stream_info(f"KV_{bucket.name}", subjects_filter=prefix + pattern)
    return [subject.removeprefix(prefix) for subject in info.state.subjects or {}]
