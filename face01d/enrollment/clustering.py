"""Which face encodings are one person: agglomerative clustering at a measured distance.

Average linkage (UPGMA, scipy's ``linkage(method="average")``) merges two
groups while the mean distance between their members is under the
threshold. Measured on LFW View 1 people in no gallery (bench/grouping.py
--sweep: 404 people with 3-8 photos and 200 with one, 1,740 crops), average
linkage at 0.52 gave groups 98.0 % pure with 1.28 groups per person; complete
linkage reached the same 1.28 only at 97.5 % (0.55), and single linkage
(DBSCAN with min_samples=1 is the same cut) chains look-alikes through one
odd photo: 96.0 % pure already at 1.74 groups per person (0.45). Around the
choice: 0.50 gives 98.8 % and 1.43, 0.54 gives 95.9 % and 1.19. The
threshold stays below the gallery's 0.6 (82.6 % pure there) because a wrong
merge costs more than a split: a split is one more "This is …" with the same
name, a merge puts a stranger's face into a person's gallery.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

GROUP_DISTANCE = 0.52  # average-linkage cut, chosen on LFW (bench/grouping.py --sweep; see above)
LINKAGE = "average"


def cluster(encodings: np.ndarray, threshold: float = GROUP_DISTANCE, method: str = LINKAGE) -> np.ndarray:
    """A group label (0, 1, ...) per row of ``encodings`` (N, 128); rows under ``threshold`` apart share one."""
    rows = np.asarray(encodings, dtype=np.float64)
    if len(rows) < 2:
        return np.zeros(len(rows), dtype=np.int64)
    tree = linkage(rows, method=method, metric="euclidean")
    return fcluster(tree, t=threshold, criterion="distance").astype(np.int64) - 1
