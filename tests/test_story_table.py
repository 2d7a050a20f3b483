"""The columnar story store: rows, reused slots and recency order, against an OrderedDict model."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.story_table import NO_KEY, StoryTable, TopPost


def add(table: StoryTable, story_id: str, followers: int = 1) -> int:
    return table.add(story_id, f"text of {story_id}", 100.0, 1, 7, 0.5, True, f"post-{story_id}",
                     f"@{story_id}", None, 0, followers)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "touch", "remove"]), st.integers(0, 30)), max_size=200))
def test_rows_and_recency_follow_an_ordered_dict(operations):
    table, model = StoryTable(bands=4, max_rows=1000), OrderedDict[str, int]()
    for operation, number in operations:
        story_id = f"s{number}"
        if operation == "add" and story_id not in model:
            model[story_id] = add(table, story_id)
        elif operation == "touch" and story_id in model:
            table.touch(model[story_id])
            model.move_to_end(story_id)
        elif operation == "remove" and story_id in model:
            table.remove(model.pop(story_id))
    assert len(table) == len(model)
    assert [table.ids[slot] for slot in table.oldest_first()] == list(model)
    assert [table.ids[slot] for slot in table.newest_first()] == list(reversed(model))
    assert table.slot_of == dict(model)
    oldest = table.oldest()
    assert (table.ids[oldest] if oldest is not None else None) == next(iter(model), None)


def test_a_reused_slot_holds_only_its_new_story():
    table = StoryTable(bands=4, max_rows=10)
    slot = add(table, "old", followers=500)
    table.set_keys(slot, (11, 22, 33))
    table.remove(slot)
    again = add(table, "new", followers=3)
    assert again == slot
    assert table.first_post(again) == TopPost("post-new", "@new", 0, 3, "text of new", None)
    assert (table.posts[again], table.reach[again], table.extras[again]) == (1, 3, None)
    assert list(table.keys_of(again)) == [NO_KEY] * 4
    assert table.slot_of == {"new": again}


def test_rows_grow_in_chunks_up_to_max_rows():
    table = StoryTable(bands=2, max_rows=20)
    slots = [add(table, f"s{i}") for i in range(20)]
    assert sorted(slots) == list(range(20))
    assert table.capacity == 20  # 16, then the 4 left to max_rows, not another half


def test_a_count_too_large_for_its_column_adds_nothing():
    table = StoryTable(bands=2, max_rows=10)
    with pytest.raises(OverflowError):
        add(table, "huge", followers=2**64)
    assert len(table) == 0
    assert len(table._free) == table.capacity  # the slot it took went back
    slot = add(table, "fine")
    assert table.slot_of == {"fine": slot}
    assert [table.ids[s] for s in table.oldest_first()] == ["fine"]
