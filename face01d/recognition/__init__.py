"""Recognition: who a face is. The gallery loaded for live use, faces named
against it, and (per track) the decision that turns several looks into one name."""
