"""songvec: behavioral song embeddings (Word2Vec), their metrics and their multi-objective tuning.

The package holds every piece of logic of the workflow; the scripts in ``scripts/`` only connect
Snakemake's inputs and outputs to these functions. Modules are named after what they compute:

- data: ``lfm1b`` (file formats), ``events_table`` (your own plays or playlists), ``datasets`` (what the
  configured dataset is, at start-up), ``download``, ``demo_data``, ``ingest``, ``sequences``, ``genres``,
  ``catalogue`` (songs under their own ids and names), ``split``, ``dataset_stats``
- embeddings and metrics: ``training``, ``neighbors``, ``next_song``, ``hard_negatives``, ``clustering``,
  ``evaluation`` (every metric of one embedding)
- studies: ``objectives`` (paper eq. 1-2), ``time_budget`` (section 4.7), ``hpo`` (the Optuna engine, a
  package: docs/hpo.md), ``final_evaluation``, ``significance``, ``popularity``, ``play_rate``,
  ``tables``, ``figures``, ``export`` (the tuned vectors out; ``python -m songvec neighbours``)
- plumbing: ``atomic`` (no half-written outputs), ``progress`` (rates and ETA in logs), ``logs``,
  ``config``
"""

__version__ = "0.1.0"
