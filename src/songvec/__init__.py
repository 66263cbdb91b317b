"""songvec: behavioral song embeddings (Word2Vec), their metrics and their multi-objective tuning.

The package holds every piece of logic of the workflow; the scripts in ``scripts/`` only connect
Snakemake's inputs and outputs to these functions. Modules are named after what they compute:

- data: ``lfm1b`` (file formats), ``download``, ``demo_data``, ``sequences``, ``genres``, ``split``,
  ``dataset_stats``
- embeddings and metrics: ``training``, ``neighbors``, ``next_song``, ``hard_negatives``, ``clustering``
- studies: ``hpo``, ``significance``, ``popularity``, ``play_rate``, ``tables``
- plumbing: ``atomic`` (no half-written outputs), ``progress`` (rates and ETA in logs), ``config``
"""

__version__ = "0.1.0"
