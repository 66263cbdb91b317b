# Shared set-up: the package on the path, config validation, and the functions that name files.
import errno
import os
import re
import sys
import zlib
from pathlib import Path

from snakemake.exceptions import WorkflowError

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
# Jobs (scripts, cluster jobs, conda envs) import the package from the clone and hash strings
# reproducibly; the workflow's own package wins over any installed copy.
os.environ.update(
    {
        "PYTHONPATH": os.pathsep.join(p for p in [SRC, os.environ.get("PYTHONPATH", "")] if p),
        "PYTHONHASHSEED": "0",
    }
)

from snakemake.logging import logger

import songvec.models as song_models
from songvec.config import check_config, scale_fractions, split_fractions
from songvec.datasets import run_objectives
from songvec.export import FORMATS as EXPORT_FORMATS
from songvec.objectives import Objective
from songvec.sequences import count_events, track_id_bound

DATASET = check_config(
    config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
)

# Each dataset's outputs (and HPO studies) live apart: switching `dataset:` and back reuses what was done.
RESULTS = f"results/{DATASET.name}"
PAPER_RESULTS = str(Path(workflow.basedir) / "workflow" / "resources" / "paper_results.yaml")
SEED = config["seed"]
# What the data cannot compute (no genres, no artists) is left out of the paper's default objectives.
OBJECTIVES, LEFT_OUT = run_objectives(config["hpo"]["objectives"], DATASET)
STUDIES = {Objective.parse(name).study_name: name for name in OBJECTIVES}
PARETO_STUDY = "Pareto-HitRate-VRCGenre"
SPLIT = split_fractions(config)
SCALE_FRACTIONS = scale_fractions(config)
SCALE_STUDIES = [f"HitRate-sample{fraction:g}" for fraction in SCALE_FRACTIONS]
# Fig. 1: HPO trials spread over the VRC range, retrained (songvec.coherence_spaces)
COHERENCE_SPACES = [f"space-{i}" for i in range(1, config["analyses"]["coherence_spaces"] + 1)]
PARETO = [PARETO_STUDY] if config["hpo"]["pareto"]["enabled"] and DATASET.has("genres") else []
if DATASET.missing:
    left_out = LEFT_OUT + (
        [PARETO_STUDY] if config["hpo"]["pareto"]["enabled"] and not PARETO else []
    )
    logger.warning(
        f"{DATASET.name}: {'; '.join(DATASET.missing.values())}: left out: {', '.join(left_out) or 'nothing'}"
    )
TABLE4_SETTINGS = ["default"] + list(STUDIES)
# The models compared with the paper's skip-gram (README "Models"): each other model's default is the setting
# named after it, each of its studies "<model>-<objective>"; a ranking baseline is tuned on HitRate only.
OTHER_MODELS = [m for m in config["models"] if m != song_models.PAPER_MODEL]
OTHER_OBJECTIVES, _ = run_objectives(config["hpo"]["other_models"]["objectives"], DATASET)


def model_objectives(model):
    """The objectives a model other than the skip-gram is tuned on (none: nothing to tune)."""
    if not song_models.options(config, model).tunable:
        return []
    if song_models.get(model).kind == "ranking":
        return [o for o in OTHER_OBJECTIVES if o == "HitRate"]
    return OTHER_OBJECTIVES


MODEL_STUDIES = {
    f"{model}-{Objective.parse(objective).study_name}": (model, objective)
    for model in OTHER_MODELS
    for objective in model_objectives(model)
}
SETTING_MODEL = {m: m for m in OTHER_MODELS} | {s: m for s, (m, _) in MODEL_STUDIES.items()}
# One row per (model, objective): the skip-gram's default and its studies of the other models' objectives,
# then each other model's default and studies. Built when another model runs.
SKIPGRAM_ROWS = [Objective.parse(o).study_name for o in OTHER_OBJECTIVES]
MODELS_TABLE_ROWS = (
    {"default": {"model": song_models.PAPER_MODEL, "kind": "embedding", "objective": None}}
    | {
        s: {"model": song_models.PAPER_MODEL, "kind": "embedding", "objective": STUDIES[s]}
        for s in SKIPGRAM_ROWS
        if s in STUDIES
    }
    | {
        setting: {"model": model, "kind": song_models.get(model).kind, "objective": objective}
        for model in OTHER_MODELS
        for setting, objective in [(model, None)]
        + [(s, o) for s, (m, o) in MODEL_STUDIES.items() if m == model]
    }
)
MODELS_TABLE_SETTINGS = list(MODELS_TABLE_ROWS)
MODELS_TABLE_STUDIES = [s for s, row in MODELS_TABLE_ROWS.items() if row["objective"] is not None]
MODELS_SEEDS = config["final"]["models_seeds"]
FIRST_SEED = config["final"]["seeds"][0]
POPULARITY_OBJECTIVE = next(
    (name for name in OBJECTIVES if name == config["analyses"]["popularity"]["optimized"]),
    "HitRate",
)
POPULARITY_SETTING = Objective.parse(POPULARITY_OBJECTIVE).study_name
LFM1B_ARCHIVES = ["LFM-1b.zip", "LFM-1b_UGP.zip"]
# Word2Vec holds two float32 matrices of V songs x d plus ~400 B per song (vocabulary, lookups, token
# strings); HPO trials draw d up to the search space's maximum.
MAX_VECTOR_SIZE = max(
    config["word2vec"]["defaults"]["vector_size"],
    config["hpo"]["search_space"]["vector_size"]["high"],
)
MODEL_BYTES_PER_SONG = 8 * MAX_VECTOR_SIZE + 400
# A co-occurrence matrix entry while counting and factorising: the pairs (int32 rows, float64 weight), the
# CSR matrix and its SPPMI or GloVe copy (about 40 bytes per pair of plays within the window, both orders).
COOCCURRENCE_BYTES = 40


def setting_model(setting):
    """The model a setting trains: another model's default or study, else the paper's skip-gram."""
    return SETTING_MODEL.get(setting, song_models.PAPER_MODEL)


def model_options(model):
    """A model's part of the config (songvec.models.ModelOptions) as JSON-able data, for rule params."""
    return song_models.options(config, model).as_dict()


def model_artifact(setting, seed):
    """The file a trained setting is saved to: vectors.kv (an embedding) or ranking.npz (a baseline)."""
    kind = song_models.get(setting_model(setting)).kind
    return f"{RESULTS}/models/{setting}/seed-{seed}/{song_models.ARTIFACTS[kind]}"


def settings_of_kind(kind):
    """The settings (default, studies, spaces...) whose model is of ``kind`` (embedding, ranking)."""
    every = ["default", *STUDIES, *PARETO, *SCALE_STUDIES, *COHERENCE_SPACES, *SETTING_MODEL]
    every += [f"default-{study_sample(study)}" for study in SCALE_STUDIES]
    return [s for s in every if song_models.get(setting_model(s)).kind == kind]


def names_pattern(names):
    """Regular expression matching exactly one of ``names`` (for wildcard_constraints)."""
    return "|".join(re.escape(name) for name in names)


def raw_dir():
    """Folder holding the LFM-1b-format files of the configured dataset."""
    if config["dataset"] == "demo":
        return f"{RESULTS}/raw/demo-{config['demo']['size']}"
    if config["dataset"] == "folder":
        return config["folder"]["path"]
    return config["lfm1b"]["folder"] or f"{RESULTS}/raw/lfm1b"


def raw_file(name):
    return f"{raw_dir()}/{name}"


def events_input():
    """The ingest's input: the events table, or the LFM-1b-format events file."""
    if config["dataset"] == "events":
        return config["events"]["path"]
    return raw_file("LFM-1b_LEs.txt")


def events_options():
    """The events-table settings the ingest depends on (None for LFM-1b files: other datasets' settings
    must not rerun this dataset's jobs)."""
    if config["dataset"] != "events":
        return None
    return {key: config["events"][key] for key in ("columns", "ids")}


def label_files(wildcards):
    """Inputs of map_genres besides the sequences: LFM-1b's artist and genre files where the data has
    them, or an events table's genres (the ingest's data/table/) and artist names."""
    if config["dataset"] == "events":
        names = config["events"]["artist_names"]
        return {"table": f"{RESULTS}/data/table"} | ({"artist_names": names} if names else {})
    if not DATASET.has("genres"):
        return {}
    source = config["genres"]["source"]
    return {
        "artists": raw_file("LFM-1b_artists.txt"),
        "artist_genres": raw_file(f"LFM-1b_artist_genres_{source}.txt"),
        "genre_names": raw_file(f"genres_{source}.txt"),
    }


def name_files(wildcards):
    """Inputs of track_catalogue besides the track labels: where the names of songs are, if anywhere."""
    if config["dataset"] == "events":
        names = config["events"]["track_names"]
        return {"table": f"{RESULTS}/data/table"} | ({"track_names": names} if names else {})
    # a folder the user gave (not one a rule fills) may lack the names
    given = config["dataset"] == "folder" or (
        config["dataset"] == "lfm1b" and config["lfm1b"]["folder"]
    )
    if given and not os.path.isfile(raw_file("LFM-1b_tracks.txt")):
        return {}
    return {"track_names": raw_file("LFM-1b_tracks.txt")}


def lfm1b_archive(name):
    """An archive given in config (archive_dir), or the one the download rule fetches."""
    given = config["lfm1b"]["archive_dir"]
    return f"{given}/{name}" if given else f"{RESULTS}/raw/lfm1b/archives/{name}"


def study_storage(study):
    """Optuna storage URL of one study (hpo.storage: sqlite | journal | a database URL shared by all)."""
    url = config["hpo"]["storage"]
    if url == "sqlite":
        return f"sqlite:///{RESULTS}/hpo/{study}/study.db"
    if url == "journal":
        return f"journal:{RESULTS}/hpo/{study}/study.journal"
    return url


def study_name(study):
    """Name of a study in its storage: one file per study needs none, a shared database is keyed by dataset."""
    return study if config["hpo"]["storage"] in ("sqlite", "journal") else f"{DATASET.name}/{study}"


def study_seed(study):
    """Sampler seed of a study: the master seed plus a stable offset per study, so studies differ."""
    return SEED + zlib.crc32(study.encode()) % 1_000_000


def study_objective(study):
    if study == PARETO_STUDY:
        return "pareto"
    if study in SCALE_STUDIES:
        return "HitRate"
    if study in MODEL_STUDIES:
        return MODEL_STUDIES[study][1]
    return STUDIES[study]


def study_model_inputs(wildcards):
    """A study of another model than the skip-gram, for a lambda objective, also reads its default's
    validation metrics (its time budget needs no measurement of its own: the cost models, README "Models").
    """
    if wildcards.study not in MODEL_STUDIES:
        return {}
    model, objective = MODEL_STUDIES[wildcards.study]
    if Objective.parse(objective).needs_default_metrics:
        return {"model_metrics": f"{RESULTS}/metrics/{model}/seed-{SEED}/valid.json"}
    return {}


def study_sample(study):
    """``sample<fraction>`` of a scale study, None for a study on the whole training split."""
    return study.removeprefix("HitRate-") if study in SCALE_STUDIES else None


def study_training(study):
    """Training sequences of a study: the full masked training split, or a subsample (scale study)."""
    sample = study_sample(study)
    if sample:
        return f"{RESULTS}/data/train_masked_{sample}.parquet"
    return f"{RESULTS}/data/train_masked.parquet"


def study_in_set_pairs(study):
    """Validation in-set pairs of a study: those of its training sequences (evaluation.in_set_pairs)."""
    sample = study_sample(study)
    if sample:
        return f"{RESULTS}/data/pairs/in_set_valid_{sample}.parquet"
    return f"{RESULTS}/data/pairs/in_set_valid.parquet"


def study_reference(study):
    """The default configuration's training record on the study's training sequences: the time budget of
    its trials is relative to it (a scale study's sample trains in a fraction of the full data's time).
    """
    sample = study_sample(study)
    setting = f"default-{sample}" if sample else "default"
    return f"{RESULTS}/models/{setting}/seed-{SEED}/record.json"


def setting_training(wildcards):
    """Training sequences of a model setting: ``default-sample<f>`` (a scale study's time reference)
    trains on that subsample, every other setting on the whole masked training split."""
    if wildcards.setting.startswith("default-sample"):
        return f"{RESULTS}/data/train_masked_{wildcards.setting.removeprefix('default-')}.parquet"
    return f"{RESULTS}/data/train_masked.parquet"


def setting_params(wildcards):
    """Hyper-parameters of a model setting: none for the default, the study's best otherwise."""
    if wildcards.setting == "default" or wildcards.setting.startswith("default-sample"):
        return []
    if wildcards.setting in COHERENCE_SPACES:
        return [f"{RESULTS}/coherence/{wildcards.setting}.json"]
    if wildcards.setting in OTHER_MODELS:
        return []
    return [f"{RESULTS}/hpo/{wildcards.setting}/best.json"]


def final_outputs(settings, name, seeds=config["final"]["seeds"], folder="metrics"):
    """Outputs ``name`` of every setting x final seed under ``folder``, setting-major."""
    return expand(
        f"{RESULTS}/{folder}/{{setting}}/seed-{{seed}}/{name}",
        setting=settings,
        seed=seeds,
    )


def all_targets():
    targets = [
        f"{RESULTS}/tables/table2.md",
        f"{RESULTS}/tables/table4.md",
        f"{RESULTS}/tables/table5.md",
        f"{RESULTS}/tables/table6.md",
        f"{RESULTS}/figures/popularity.png",
        f"{RESULTS}/figures/play_rate.png",
        f"{RESULTS}/versions.json",
    ]
    targets += expand(
        f"{RESULTS}/vectors/{{setting}}{{suffix}}",
        setting=TABLE4_SETTINGS,
        suffix=EXPORT_FORMATS.values(),
    )
    if DATASET.has("genres") and DATASET.has(
        "artists"
    ):  # Fig. 1's panels: genre and artist coherence
        targets.append(f"{RESULTS}/figures/coherence_vs_vrc.png")
    if DATASET.has("genres"):  # every trial in the HitRate x VRC-genre plane
        targets.append(f"{RESULTS}/figures/tradeoff.png")
    if OTHER_MODELS:
        targets += [f"{RESULTS}/tables/models.md", f"{RESULTS}/figures/models.png"]
    return targets


def streaming_mem_mb(fixed_mb, song_bytes=0, batch_bytes=150, sequences="sequences"):
    """resources.mem_mb of a job that reads its `sequences` input in batches (MB, x attempt, see job_mem_mb).

    fixed_mb (interpreter, libraries, small inputs) + batch_bytes per event of a batch of
    streaming.batch_events (measured 110-150 B while reading) + song_bytes per track id of the
    sequence input: its largest id from the Parquet footer, nothing decoded (LFM-1b's ids are dense,
    so that is about the number of songs). Memory does not depend on the number of events.
    """

    def mem_mb(wildcards, input, attempt):
        path = input[sequences]
        if song_bytes and not os.path.exists(path):
            # Snakemake takes this as "to be determined": asked again once the input exists
            raise FileNotFoundError(errno.ENOENT, "input not created yet", path)
        songs = track_id_bound(path) if song_bytes else 0
        batch_mb = batch_bytes * config["streaming"]["batch_events"] / 2**20
        return job_mem_mb(int(fixed_mb + batch_mb + song_bytes * songs / 2**20), attempt)

    return mem_mb


def job_mem_mb(mb, attempt=1):
    """resources.mem_mb of a job needing `mb` MB: `mb` x attempt (a retry asks for more), at most
    max_job.mem_mb. A first request above max_job.mem_mb (the largest node) stops the run before the job
    is submitted: SLURM would reject it, or keep it pending for a node that does not exist.
    """
    limit = config["max_job"]["mem_mb"]
    if limit is not None and mb > limit:
        raise WorkflowError(
            f"the job needs mem_mb={mb} but max_job.mem_mb is {limit} (the largest node jobs can run on): "
            "no node can run it. Raise max_job.mem_mb if a larger node exists (and send the job to its "
            "partition: --set-resources RULE:slurm_partition=NAME), or lower the memory settings "
            "(ingest.memory_budget_gb, streaming.batch_events, hard_negatives.memory_budget_gb; Word2Vec jobs "
            "also grow with the vocabulary and hpo.search_space.vector_size.high)."
        )
    return mb * attempt if limit is None else min(mb * attempt, limit)


def cooccurrence_mem_mb(model, sequences):
    """MB a co-occurrence model (SPPMI-SVD, GloVe, the transitions) holds beside what Word2Vec would: its
    matrix, up to COOCCURRENCE_BYTES per pair of plays of `sequences` at most its largest window apart.
    """
    if not song_models.get(model).cooccurrence:
        return 0
    if not os.path.exists(sequences):
        # Snakemake takes this as "to be determined": asked again once the input exists
        raise FileNotFoundError(errno.ENOENT, "input not created yet", sequences)
    window = song_models.options(config, model).largest().get("window", 1)
    return COOCCURRENCE_BYTES * 2 * window * count_events(sequences) / 2**20


def model_mem_mb(fixed_mb, song_bytes, model_of, batch_bytes=150):
    """resources.mem_mb of a job training the model ``model_of(wildcards)``: streaming_mem_mb (vectors of
    song_bytes per song beside a batch) plus its co-occurrence matrix (cooccurrence_mem_mb)."""

    def mem_mb(wildcards, input, attempt):
        base = streaming_mem_mb(
            fixed_mb, song_bytes=song_bytes, batch_bytes=batch_bytes, sequences="train_masked"
        )
        extra = cooccurrence_mem_mb(model_of(wildcards), input.train_masked)
        return job_mem_mb(int(base(wildcards, input, 1) + extra), attempt)

    return mem_mb


def input_size_mem_mb(fixed_mb, bytes_per_input_byte):
    """resources.mem_mb of a job that loads its input files whole: fixed_mb + bytes_per_input_byte per byte
    of its input files (folders not counted), x attempt (see job_mem_mb)."""

    def mem_mb(wildcards, input, attempt):
        files = [path for path in input if not os.path.isdir(path)]
        for path in files:
            if not os.path.exists(path):
                # Snakemake takes this as "to be determined": asked again once the input exists
                raise FileNotFoundError(errno.ENOENT, "input not created yet", path)
        size = sum(os.path.getsize(path) for path in files)
        return job_mem_mb(int(fixed_mb + bytes_per_input_byte * size / 2**20), attempt)

    return mem_mb
