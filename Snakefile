# Multi-objective hyper-parameter optimization of behavioral song embeddings (Quadrana et al., ISMIR 2023).
#
#   snakemake --cores 2                 the whole paper on the configured dataset (default: generated demo)
#   snakemake -n                        show the DAG without running anything
#   snakemake --cores 2 <target>        rebuild one output alone, e.g. results/hpo/HitRate/best.json
#   snakemake --report results/report.html   one HTML report with every table and figure
#
# Data flow, stage by stage (one rule file each, in workflow/rules/):
#   data.smk        raw LFM-1b-format files -> sequences.parquet -> track genres, 98/1/1 split, Table 2
#   embeddings.smk  masked training split + evaluation pairs; hard-negative mining; Word2Vec models (the default,
#                   and each study's best retrained with the final seeds) and their metrics
#   hpo.smk         one Optuna study per objective (+ a Pareto study), workers sharing one storage
#   analyses.smk    Table 4 with significance marks, popularity heatmaps, coherence vs VRC, scale study (Table 6),
#                   play-rate proxy (Table 5), trade-off plot

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# The clone's config.yaml always loads; --configfile / --config extend it (e.g. tests/workflow/tiny.yaml).
configfile: str(Path(workflow.basedir) / "config.yaml")


include: "workflow/rules/common.smk"


# Every wildcard matches only what the configuration can produce: a mistyped target fails with "no rule
# to produce it" instead of a job for a study, setting or seed that does not exist.
wildcard_constraints:
    study=names_pattern(list(STUDIES) + PARETO + SCALE_STUDIES + list(MODEL_STUDIES)),
    setting=names_pattern(
        ["default", *STUDIES, *PARETO, *SCALE_STUDIES, *COHERENCE_SPACES, *SETTING_MODEL]
        + [f"default-{study_sample(study)}" for study in SCALE_STUDIES]
    ),
    seed=r"[0-9]+",
    worker=r"[0-9]+",
    size=r"[a-z]+",


include: "workflow/rules/data.smk"
include: "workflow/rules/embeddings.smk"
include: "workflow/rules/hpo.smk"
include: "workflow/rules/analyses.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
