"""Row 12: unknown faces grouped (bench/grouping.py, run as a subprocess with a timeout)."""

from __future__ import annotations

from common import Context, Row, judge, run_script

GROUPING_TIMEOUT_S = 1200  # ~10 s with the crops' encodings cached; ~5 min on an idle core to encode 1,740
# crops, 13 min measured on a busy 2-core machine
GROUPING_TITLE = "12. Unknown faces grouped: LFW people in no gallery, as kept crops"
PURITY_TARGET_PCT = 95.0  # at least: a wrong merge puts a stranger's face into somebody's gallery
GROUPS_PER_PERSON_TARGET = 1.5  # at most: one "This is …" per person, sometimes two
VIEW_TARGET_MS = 1000.0  # at most: the page's groups() over 1,000 kept crops, encodings cached


def grouping_rows(ctx: Context) -> list[Row]:
    """Purity, groups per person, and the response time of a view of 1,000 kept crops."""
    result = run_script("grouping.py", [], ctx.timeout(GROUPING_TIMEOUT_S))
    view = result["view"]
    setting = f"{result['linkage']} linkage at {result['threshold']:.2f}"
    purity = judge(Row("grouping.purity", f"purity of the groups ({setting})", details=result),
                   result["purity_pct"], ">=", PURITY_TARGET_PCT, "%", 1)
    purity.note = (f"{result['crops_with_face']} of {result['crops']} crops with a face: {result['people']} people "
                   f"with {result['min_photos']}+ photos and {result['singletons']} with one, "
                   f"in {result['groups']} groups; "
                   f"encodings {'cached' if result['cache_warm'] else 'encoded in this run'}, "
                   f"groups() took {result['groups_s']} s")
    spread = judge(Row("grouping.spread", "groups per person (people with several photos)", details=result),
                   result["groups_per_person"], "<=", GROUPS_PER_PERSON_TARGET, "", 2)
    first = judge(Row("grouping.view", f"groups() over {view['crops']:,} kept crops, first view", details=view),
                  view["first_view_ms"], "<=", VIEW_TARGET_MS, "ms", 0)
    first.note = (f"a new UnknownGroups, encodings read from the cache file, 1,000-encoding gallery checked; "
                  f"a later view (cache in memory): {view['later_view_ms']} ms; {view['groups']} groups")
    return [purity, spread, first]
