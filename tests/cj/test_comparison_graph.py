"""The comparison graph's shortcuts for batch-sized graphs agree with the general methods."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from engine.cj.comparison_graph import SMALL_GRAPH_ITEMS_MAX, ComparisonGraph


@st.composite
def graphs(draw):
    n = draw(st.integers(2, SMALL_GRAPH_ITEMS_MAX))
    m = draw(st.integers(1, 3 * n))
    winners = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    losers = [(w + draw(st.integers(1, n - 1))) % n for w in winners]
    return ComparisonGraph.from_pairs(n, np.column_stack([winners, losers]))


@given(graphs())
def test_edges_counted_over_the_key_space_equal_the_sorted_unique_pairs(graph):
    lo = np.minimum(graph.winners, graph.losers)
    hi = np.maximum(graph.winners, graph.losers)
    keys, inverse = np.unique(lo * graph.n_items + hi, return_inverse=True)
    edge_lo, edge_hi, met, lo_won = graph.edges
    assert edge_lo.tolist() == (keys // graph.n_items).tolist()
    assert edge_hi.tolist() == (keys % graph.n_items).tolist()
    assert met.tolist() == np.bincount(inverse).tolist()
    assert lo_won.tolist() == np.bincount(inverse, weights=graph.winners == lo).tolist()


@given(graphs())
def test_weak_components_name_each_component_by_its_lowest_item(graph):
    n = graph.n_items
    adjacency = coo_matrix((np.ones(graph.n_comparisons), (graph.winners, graph.losers)), (n, n))
    _, labels = connected_components(adjacency, directed=False)
    lowest = {label: int(np.flatnonzero(labels == label)[0]) for label in set(labels.tolist())}
    assert graph.weak_components.tolist() == [lowest[label] for label in labels.tolist()]
