# Embedding stage: what models train on, what they are evaluated on, the models, their metrics, and the
# final vectors exported for use outside the workflow.


rule prepare_evaluation:
    input:
        train=f"{RESULTS}/data/split/train.parquet",
        valid=f"{RESULTS}/data/split/valid.parquet",
        test=f"{RESULTS}/data/split/test.parquet",
    output:
        train_masked=f"{RESULTS}/data/train_masked.parquet",
        in_set=f"{RESULTS}/data/pairs/in_set.parquet",
        in_set_valid=f"{RESULTS}/data/pairs/in_set_valid.parquet",
        in_set_test=f"{RESULTS}/data/pairs/in_set_test.parquet",
        valid=f"{RESULTS}/data/pairs/valid.parquet",
        test=f"{RESULTS}/data/pairs/test.parquet",
        summary=f"{RESULTS}/data/pairs/summary.json",
    params:
        batch_events=config["streaming"]["batch_events"],
        max_pairs=config["evaluation"]["max_pairs"],
        in_set_pairs=config["evaluation"]["in_set_pairs"],
        seed=SEED,
    log:
        f"{RESULTS}/logs/prepare_evaluation.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_evaluation.tsv"
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(700, sequences="train"),
    conda:
        "../../envs/embeddings.yaml"
    script:
        "../../scripts/prepare_evaluation.py"


rule subsample_training:
    input:
        train_masked=f"{RESULTS}/data/train_masked.parquet",
        in_set=f"{RESULTS}/data/pairs/in_set_valid.parquet",
    output:
        train_masked=f"{RESULTS}/data/train_masked_sample{{fraction}}.parquet",
        in_set=f"{RESULTS}/data/pairs/in_set_valid_sample{{fraction}}.parquet",
    wildcard_constraints:
        fraction=r"0\.[0-9]+|1",
    params:
        batch_events=config["streaming"]["batch_events"],
        seed=SEED,
    log:
        f"{RESULTS}/logs/subsample_training/{{fraction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/subsample_training/{{fraction}}.tsv"
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(600, sequences="train_masked"),
    conda:
        "../../envs/embeddings.yaml"
    script:
        "../../scripts/subsample_training.py"


rule mine_hard_negatives:
    input:
        train_masked=f"{RESULTS}/data/train_masked.parquet",
    output:
        pairs=f"{RESULTS}/hard_negatives/pairs.parquet",
        summary=f"{RESULTS}/hard_negatives/summary.json",
    params:
        batch_events=config["streaming"]["batch_events"],
        options=config["hard_negatives"],
    log:
        f"{RESULTS}/logs/mine_hard_negatives.log",
    benchmark:
        f"{RESULTS}/benchmarks/mine_hard_negatives.tsv"
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(
            800 + 1024 * config["hard_negatives"]["memory_budget_gb"],
            song_bytes=16,
            batch_bytes=200,
            sequences="train_masked",
        ),
    conda:
        "../../envs/embeddings.yaml"
    script:
        "../../scripts/mine_hard_negatives.py"


rule train_model:
    input:
        train_masked=setting_training,
        params=setting_params,
    output:
        model=f"{RESULTS}/models/{{setting}}/seed-{{seed}}/vectors.kv",
        record=f"{RESULTS}/models/{{setting}}/seed-{{seed}}/record.json",
    wildcard_constraints:
        setting=names_pattern(settings_of_kind("embedding")),
    params:
        batch_events=config["streaming"]["batch_events"],
        options=lambda wildcards: model_options(setting_model(wildcards.setting)),
    log:
        f"{RESULTS}/logs/train_model/{{setting}}/seed-{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_model/{{setting}}/seed-{{seed}}.tsv"
    threads: config["word2vec"]["workers"]
    resources:
        mem_mb=model_mem_mb(
            400, MODEL_BYTES_PER_SONG, lambda w: setting_model(w.setting), batch_bytes=100
        ),
    conda:
        "../../envs/embeddings.yaml"
    script:
        "../../scripts/train_model.py"


# A next-song baseline (songvec.models.baselines) is saved as its ranking instead of vectors.
use rule train_model as train_baseline with:
    output:
        model=f"{RESULTS}/models/{{setting}}/seed-{{seed}}/ranking.npz",
        record=f"{RESULTS}/models/{{setting}}/seed-{{seed}}/record.json",
    wildcard_constraints:
        setting=names_pattern(settings_of_kind("ranking")) or "(?!)",
    log:
        f"{RESULTS}/logs/train_baseline/{{setting}}/seed-{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_baseline/{{setting}}/seed-{{seed}}.tsv"
    threads: 1


rule evaluate_model:
    input:
        model=lambda wildcards: model_artifact(wildcards.setting, wildcards.seed),
        in_set=f"{RESULTS}/data/pairs/in_set_{{split}}.parquet",
        out_of_set=f"{RESULTS}/data/pairs/{{split}}.parquet",
        genres=f"{RESULTS}/data/track_genres.parquet",
        hard_negatives=f"{RESULTS}/hard_negatives/pairs.parquet",
        train_masked=f"{RESULTS}/data/train_masked.parquet",
    output:
        metrics=f"{RESULTS}/metrics/{{setting}}/seed-{{seed}}/{{split}}.json",
        pairs=f"{RESULTS}/metrics/{{setting}}/seed-{{seed}}/{{split}}_pairs.parquet",
        songs=f"{RESULTS}/metrics/{{setting}}/seed-{{seed}}/{{split}}_songs.parquet",
    wildcard_constraints:
        split="valid|test",
    params:
        batch_events=config["streaming"]["batch_events"],
        evaluation=config["evaluation"],
        seed=SEED,
        # local coherence (section 4.3) feeds Fig. 1, which shows the skip-gram's spaces only
        coherence=lambda wildcards: setting_model(wildcards.setting) == song_models.PAPER_MODEL,
    log:
        f"{RESULTS}/logs/evaluate_model/{{setting}}/seed-{{seed}}/{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_model/{{setting}}/seed-{{seed}}/{{split}}.tsv"
    # One thread: the neighbour search's result does not depend on it, and a 2-thread job cannot start beside
    # an HPO worker on 2 cores. On a larger machine: --set-threads evaluate_model=N
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(
            1500, song_bytes=MODEL_BYTES_PER_SONG + 1000, sequences="train_masked"
        ),
    conda:
        "../../envs/embeddings.yaml"
    script:
        "../../scripts/evaluate_model.py"


rule export_vectors:
    input:
        vectors=f"{RESULTS}/models/{{setting}}/seed-{FIRST_SEED}/vectors.kv",
        tracks=f"{RESULTS}/data/tracks.parquet",
    output:
        **{fmt: f"{RESULTS}/vectors/{{setting}}{suffix}" for fmt, suffix in EXPORT_FORMATS.items()},
    log:
        f"{RESULTS}/logs/export_vectors/{{setting}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/export_vectors/{{setting}}.tsv"
    threads: 1
    resources:
        mem_mb=input_size_mem_mb(600, bytes_per_input_byte=4),
    conda:
        "../../envs/embeddings.yaml"
    script:
        "../../scripts/export_vectors.py"
