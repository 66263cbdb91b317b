# HPO stage: one Optuna study per objective; `hpo.workers` worker jobs per study share its storage.


rule hpo_worker:
    input:
        unpack(study_model_inputs),
        train_masked=lambda wildcards: study_training(wildcards.study),
        in_set=lambda wildcards: study_in_set_pairs(wildcards.study),
        out_of_set=f"{RESULTS}/data/pairs/valid.parquet",
        genres=f"{RESULTS}/data/track_genres.parquet",
        hard_negatives=f"{RESULTS}/hard_negatives/pairs.parquet",
        default_metrics=f"{RESULTS}/metrics/default/seed-{SEED}/valid.json",
        default_record=lambda wildcards: study_reference(wildcards.study),
    output:
        f"{RESULTS}/hpo/{{study}}/worker-{{worker}}.json",
    params:
        batch_events=config["streaming"]["batch_events"],
        storage=lambda wildcards: study_storage(wildcards.study),
        study_name=lambda wildcards: study_name(wildcards.study),
        objective=lambda wildcards: study_objective(wildcards.study),
        model=lambda wildcards: model_options(setting_model(wildcards.study)),
        hpo=config["hpo"],
        word2vec=config["word2vec"],
        evaluation=config["evaluation"],
        seed=SEED,
        sampler_seed=lambda wildcards: study_seed(wildcards.study),
    log:
        f"{RESULTS}/logs/hpo/{{study}}/worker-{{worker}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo/{{study}}/worker-{{worker}}.tsv"
    threads: config["word2vec"]["workers"]
    resources:
        mem_mb=model_mem_mb(1500, 2 * MODEL_BYTES_PER_SONG + 1000, lambda w: setting_model(w.study)),
        runtime=24 * 60,
    conda:
        "../../envs/hpo.yaml"
    # the studies are the longest jobs: start each as soon as its inputs exist; final trainings fill in
    priority: 10
    script:
        "../../scripts/hpo_worker.py"


rule hpo_summary:
    input:
        workers=expand(
            f"{RESULTS}/hpo/{{{{study}}}}/worker-{{worker}}.json",
            worker=range(config["hpo"]["workers"]),
        ),
    output:
        best=f"{RESULTS}/hpo/{{study}}/best.json",
        trials=f"{RESULTS}/hpo/{{study}}/trials.csv",
        summary=f"{RESULTS}/hpo/{{study}}/summary.json",
    params:
        storage=lambda wildcards: study_storage(wildcards.study),
        study_name=lambda wildcards: study_name(wildcards.study),
    log:
        f"{RESULTS}/logs/hpo/{{study}}/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/hpo/{{study}}/summary.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/hpo.yaml"
    script:
        "../../scripts/hpo_summary.py"
