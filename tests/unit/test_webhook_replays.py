"""SeenSignatures: a timestamped signature is accepted once; the memory is bounded, and full it
refuses older timestamps rather than forget a signature that could then be replayed."""

from __future__ import annotations

import tracemalloc

from veille.collectors.webhook import MAX_SEEN_SIGNATURES, SeenSignatures, sign

TOLERANCE = 300.0
NOW = 1_796_500_000.0


def sig(i: int) -> bytes:
    return f"{i:064x}".encode()


def test_a_signature_is_claimed_once_and_forgotten_once_out_of_time() -> None:
    """Claimed, it is in flight until its request is accepted (or released): the same one again
    meanwhile is told so (its outcome unknown yet), then that it was accepted."""
    seen = SeenSignatures()
    assert seen.claim(int(NOW), sig(1), NOW, TOLERANCE) is None
    assert seen.claim(int(NOW), sig(1), NOW + 1, TOLERANCE) == "in_flight"
    seen.accept(sig(1))
    assert seen.claim(int(NOW), sig(1), NOW + 1, TOLERANCE) == "accepted"
    seen.release(sig(1))  # (never both: released after accepted, it may come once more)
    assert seen.claim(int(NOW), sig(1), NOW + 1, TOLERANCE) is None
    assert seen.claim(int(NOW), sig(2), NOW + 1, TOLERANCE) is None
    # Once its timestamp is out of the tolerance it is forgotten (the timestamp refuses it).
    assert seen.claim(int(NOW) + 301, sig(3), NOW + 301, TOLERANCE) is None
    assert len(seen) == 1


def test_a_released_signature_may_be_claimed_again_without_growing_the_memory() -> None:
    """A request refused (400) or not written (503) releases its claim: replayed a million
    times within the tolerance it is one entry, not a million."""
    seen = SeenSignatures()
    for _ in range(1000):
        assert seen.claim(int(NOW), sig(1), NOW, TOLERANCE) is None
        seen.release(sig(1))
    assert len(seen) == 1 and len(seen._by_time) == 1
    assert seen.claim(int(NOW), sig(1), NOW, TOLERANCE) is None
    assert seen.claim(int(NOW), sig(1), NOW, TOLERANCE) == "in_flight"
    seen.release(sig(99))  # never claimed: nothing
    seen.accept(sig(99))
    assert len(seen) == 1


def test_full_it_forgets_the_oldest_and_refuses_no_newer_timestamps() -> None:
    seen = SeenSignatures(capacity=3)
    for i, ts in enumerate((100, 50, 200)):
        assert seen.claim(int(NOW) - ts, sig(i), NOW, TOLERANCE) is None
    assert seen.floor is None
    # A fourth: the oldest (200 s ago) is forgotten, and nothing that old or older is taken.
    assert seen.claim(int(NOW), sig(3), NOW, TOLERANCE) is None
    assert len(seen) == 3 and seen.floor == int(NOW) - 200
    assert seen.claim(int(NOW) - 200, sig(2), NOW, TOLERANCE) == "forgotten"  # the forgotten one
    assert seen.claim(int(NOW) - 250, sig(9), NOW, TOLERANCE) == "forgotten"
    assert seen.claim(int(NOW) - 100, sig(0), NOW, TOLERANCE) == "in_flight"  # still remembered
    # A new one no later than all those remembered: it would be the one forgotten, so refused,
    # and none forgotten for it.
    for ts in (150, 100):
        assert seen.claim(int(NOW) - ts, sig(10), NOW, TOLERANCE) == "forgotten"
    assert len(seen) == 3 and seen.floor == int(NOW) - 200
    assert seen.claim(int(NOW) - 100, sig(0), NOW, TOLERANCE) == "in_flight"
    # Out of the tolerance, the remembered ones go and room is made without forgetting.
    later = NOW + 300 - 60
    assert seen.claim(int(later), sig(11), later, TOLERANCE) is None
    assert len(seen) == 3 and seen.floor == int(NOW) - 200  # -100 went: -50, 0 and this one


def test_full_its_memory_is_bounded() -> None:
    """MAX_SEEN_SIGNATURES of them at most, keyed as the collector keys them (the 32-byte
    digest, made while traced: it is held as long as remembered), in 25 MB, as its comment
    says."""
    tracemalloc.start()
    try:
        seen = SeenSignatures()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(MAX_SEEN_SIGNATURES + 1000):
            key = bytes.fromhex(sign("secret-of-16-chars", str(i).encode(), int(NOW))[7:])
            assert seen.claim(int(NOW) + i // 1000, key, NOW, TOLERANCE) is None
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(seen) == MAX_SEEN_SIGNATURES
    assert held < 25 * 10**6, held
