"""The course's own machinery, apart from what the chapters teach: the profile a notebook
runs in (:mod:`.profile`), stamps and notebook runs (:mod:`.notebooks`), the verdict policy
(:mod:`.claims`), the claims ledger (:mod:`.ledger`) and the exercises' checkers
(:mod:`.checks`)."""
