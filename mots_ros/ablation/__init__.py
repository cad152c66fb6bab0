"""`mots ablate`: the comparisons of thesis chapter 6 as many runs and box plots (issue 13 §3).

An ablation file (``config/ablations/NAME.yaml``, :mod:`.spec`) names a base and its variants. Training-time
ablations (:mod:`.training`) train every variant ``runs`` times with different seeds through `mots train`, tune
and evaluate each run through `mots run`, `mots tune --outputs` and `mots eval`; test-time ablations
(:mod:`.testtime`) re-cluster and re-link the saved network outputs of given checkpoints. :mod:`.runner` schedules
the runs in parallel and resumes after a kill; :mod:`.results` writes the CSV and the box plots.
"""
