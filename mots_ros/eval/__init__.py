"""MOTS evaluation (torch-free): CLEAR (mots_tools semantics), Identity and HOTA (TrackEval), DR scores (thesis 5.2)."""
