"""Rebuilds pause Python's cycle collector, and leave it as they found it."""

import gc

from rapport_shared.eventsourcing.projection import cycle_collection_paused


def test_paused_during_a_rebuild_and_on_again_after():
    assert gc.isenabled()
    with cycle_collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_rebuilds_keep_it_paused_until_the_last_ends():
    first, second = cycle_collection_paused(), cycle_collection_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failed_rebuild_turns_it_back_on():
    try:
        with cycle_collection_paused():
            raise RuntimeError("the rebuild failed")
    except RuntimeError:
        pass
    assert gc.isenabled()
