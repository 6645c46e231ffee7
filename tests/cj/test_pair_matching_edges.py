"""Edge tests for engine/cj/pair_matching.py: the greedy pass and the augmenting paths, on
hand-built graphs with exact results, and as properties over drawn graphs.

Several mutants only differ from the code when essay 0 is somebody's mate (``mate < 0`` against
``mate <= 0``), so the hand-built graphs put essay 0 inside a pair on purpose.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from engine.cj.pair_matching import Adjacency, Matching, augment, take_greedily


def edges(*pairs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the edges, in the order given (heaviest first)."""
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array(
        [p[1] for p in pairs], dtype=np.int64
    )


def test_an_empty_matching_marks_every_essay_unmatched_with_minus_one():
    matching = Matching.empty(3)
    assert matching.mate.tolist() == [-1, -1, -1]
    assert matching.mate.dtype == np.int64
    assert matching.unmatched().tolist() == [0, 1, 2]


def test_an_essay_whose_mate_is_essay_0_is_matched():
    matching = Matching.empty(3)
    take_greedily(matching, *edges((1, 0)), limit=5)
    assert matching.mate.tolist() == [1, 0, -1]
    assert matching.unmatched().tolist() == [2]


def test_the_greedy_pass_records_its_mates_when_it_stops_at_the_limit():
    matching = Matching.empty(4)
    take_greedily(matching, *edges((0, 1), (2, 3)), limit=1)
    assert matching.chosen == [(0, 1)]
    assert matching.mate.tolist() == [1, 0, -1, -1]
    assert matching.slot == {0: 0, 1: 0}


def test_the_greedy_pass_takes_nothing_once_the_limit_is_reached():
    matching = Matching.empty(4)
    take_greedily(matching, *edges((0, 1)), limit=1)
    take_greedily(matching, *edges((2, 3)), limit=1)
    assert matching.chosen == [(0, 1)]
    assert matching.mate.tolist() == [1, 0, -1, -1]


# Essay 0 is matched to 2 by the greedy; 1 reaches 3 through 2 and 0 (1-2-0-3), and 3 then has
# a path of its own through 4 (3-4-5-6) that it must not take: it is matched by then.
ZERO_IN_THE_MIDDLE = ((0, 2), (4, 5), (1, 2), (0, 3), (3, 4), (5, 6))


def test_a_path_through_the_mate_of_essay_0_is_taken_and_its_end_is_not_matched_twice():
    rows, cols = edges(*ZERO_IN_THE_MIDDLE)
    matching = Matching.empty(7)
    take_greedily(matching, rows, cols, limit=10)
    assert matching.chosen == [(0, 2), (4, 5)]
    augment(matching, Adjacency.of(7, rows, cols), limit=10)
    assert matching.chosen == [(1, 2), (4, 5), (0, 3)]
    assert matching.mate.tolist() == [3, 2, 1, 0, 5, 4, -1]
    assert matching.slot == {0: 2, 1: 0, 2: 0, 3: 2, 4: 1, 5: 1}


# 0 takes the path 0-1-2-3; 0 and 3 are both neighbours of 4, whose mate 5 has the free 6 on
# its other side, so 6 then takes 6-5-4-7. That second path is only seen if 4's count of free
# neighbours drops by exactly one per neighbour matched (0 and 3: from 3 to 1), and if the marks
# 0 left on its neighbours while it was tried are cleared before 6 is.
TWO_PATHS_SHARING_A_NEIGHBOUR = ((1, 2), (4, 5), (0, 1), (2, 3), (0, 4), (3, 4), (5, 6), (4, 7))


def test_a_later_path_is_found_after_an_earlier_one_matched_two_of_its_neighbours():
    rows, cols = edges(*TWO_PATHS_SHARING_A_NEIGHBOUR)
    matching = Matching.empty(8)
    take_greedily(matching, rows, cols, limit=10)
    assert matching.chosen == [(1, 2), (4, 5)]
    augment(matching, Adjacency.of(8, rows, cols), limit=10)
    assert matching.chosen == [(0, 1), (6, 5), (2, 3), (4, 7)]
    assert matching.mate.tolist() == [1, 0, 3, 2, 7, 6, 5, 4]


def test_augmenting_stops_exactly_at_the_limit():
    # two disjoint paths 0-1-2-3 and 4-5-6-7, each with its middle pair taken greedily
    rows, cols = edges((1, 2), (5, 6), (0, 1), (2, 3), (4, 5), (6, 7))
    for limit, pairs in ((2, 2), (3, 3), (4, 4), (5, 4)):
        matching = Matching.empty(8)
        take_greedily(matching, rows, cols, limit=limit)
        augment(matching, Adjacency.of(8, rows, cols), limit=limit)
        assert len(matching.chosen) == pairs, limit


# ---------------------------------------------------------------------------------------------
# Properties over drawn graphs: the result is a matching of the graph's edges, its bookkeeping
# (mates, slots) agrees with its pairs, it respects the limit, and below the limit no augmenting
# path of length three is left.


@st.composite
def graphs(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """A graph on up to 12 essays: distinct edges in a drawn order (the greedy's weights)."""
    n = draw(st.integers(2, 12))
    all_pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    chosen = draw(st.lists(st.sampled_from(all_pairs), unique=True, max_size=len(all_pairs)))
    flipped = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    return n, [(b, a) if flip else (a, b) for (a, b), flip in zip(chosen, flipped, strict=True)]


def length_three_path(matching: Matching, n: int, graph: set[frozenset[int]]) -> bool:
    mate = matching.mate.tolist()
    free = [u for u in range(n) if mate[u] < 0]
    for u in free:
        for v in free:
            if u == v:
                continue
            for x in range(n):
                y = mate[x]
                if y >= 0 and {frozenset((u, x)), frozenset((y, v))} <= graph:
                    return True
    return False


@given(graphs(), st.integers(0, 7))
def test_the_greedy_and_the_augmenting_paths_leave_a_valid_matching_with_no_short_path(
    drawn: tuple[int, list[tuple[int, int]]], limit: int
):
    n, pairs = drawn
    rows, cols = edges(*pairs)
    graph = {frozenset(p) for p in pairs}
    matching = Matching.empty(n)
    take_greedily(matching, rows, cols, limit=limit)
    augment(matching, Adjacency.of(n, rows, cols), limit=limit)

    assert len(matching.chosen) <= limit
    seen = [essay for pair in matching.chosen for essay in pair]
    assert len(seen) == len(set(seen)), "an essay in two pairs"
    assert all(frozenset(pair) in graph for pair in matching.chosen)
    expected_mate = [-1] * n
    for k, (a, b) in enumerate(matching.chosen):
        expected_mate[a], expected_mate[b] = b, a
        assert matching.slot[a] == matching.slot[b] == k
    assert matching.mate.tolist() == expected_mate
    assert set(matching.slot) == set(seen)
    if len(matching.chosen) < limit:
        # maximal (the greedy saw every edge) and no augmenting path of length three
        assert not any(matching.mate[a] < 0 and matching.mate[b] < 0 for a, b in pairs)
        assert not length_three_path(matching, n, graph)


def test_an_essay_with_no_path_does_not_stop_the_search_for_the_next_one():
    # 0's only neighbour 1 is matched to 2, which has nobody else: no path from 0. The next
    # unmatched essay, 3, has the path 3-4-5-6.
    rows, cols = edges((1, 2), (4, 5), (0, 1), (3, 4), (5, 6))
    matching = Matching.empty(7)
    take_greedily(matching, rows, cols, limit=10)
    augment(matching, Adjacency.of(7, rows, cols), limit=10)
    assert matching.chosen == [(1, 2), (3, 4), (5, 6)]
