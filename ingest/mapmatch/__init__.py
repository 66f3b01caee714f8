"""Map matching: GNSS traces of the vans snapped onto the road network (hidden-Markov, NumPy).

    >>> from ingest.mapmatch import MapMatcher, MatchParams, Trace
    >>> matcher = MapMatcher(net, MatchParams(sigma_z=5.0))        # doctest: +SKIP
    >>> result = matcher.match(Trace(t=t, xy=xy))                   # doctest: +SKIP
    >>> result.segment_id, result.offset, result.confidence, result.path_edges   # doctest: +SKIP

Newson & Krumm (2009) with FMM's precomputed upper-bounded route table, batched across traces.
One module per concern, as in Valhalla Meili: :mod:`.params` (the documented parameter table),
:mod:`.candidate_search`, :mod:`.emission`, :mod:`.transition`, :mod:`.route_table`,
:mod:`.gap_routes` (GNSS gaps longer than the table's bound), :mod:`.viterbi`, :mod:`.result`,
:mod:`.matcher`.
"""

from ingest.mapmatch.matcher import MapMatcher, Trace
from ingest.mapmatch.params import InvalidParameterError, MatchParams
from ingest.mapmatch.result import MatchResult

__all__ = ["InvalidParameterError", "MapMatcher", "MatchParams", "MatchResult", "Trace"]
