# Analyses of sections 4.3-4.7: Table 4 (the final evaluation with significance marks) and every other table
# and figure of the paper after Table 2.


rule table4:
    input:
        metrics=final_outputs(TABLE4_SETTINGS, "test.json"),
        pairs=final_outputs(TABLE4_SETTINGS, "test_pairs.parquet"),
        songs=final_outputs(TABLE4_SETTINGS, "test_songs.parquet"),
        paper=PAPER_RESULTS,
    output:
        csv=f"{RESULTS}/tables/table4.csv",
        markdown=f"{RESULTS}/tables/table4.md",
        html=report(
            f"{RESULTS}/tables/table4.html",
            caption="../report/table4.rst",
            category="Tables",
            labels={"table": "Table 4: HPO results with significance marks"},
        ),
        latex=f"{RESULTS}/tables/table4.tex",
        tests=f"{RESULTS}/tables/table4_tests.csv",
    params:
        settings=TABLE4_SETTINGS,
        objectives=STUDIES,
        seeds=config["final"]["seeds"],
        level=config["final"]["significance_level"],
        not_applicable=DATASET.not_applicable(),
    log:
        f"{RESULTS}/logs/table4.log",
    benchmark:
        f"{RESULTS}/benchmarks/table4.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/table4.py"


rule popularity_analysis:
    input:
        train_masked=f"{RESULTS}/data/train_masked.parquet",
        default_pairs=f"{RESULTS}/metrics/default/seed-{FIRST_SEED}/test_pairs.parquet",
        optimized_pairs=f"{RESULTS}/metrics/{POPULARITY_SETTING}/seed-{FIRST_SEED}/test_pairs.parquet",
    output:
        table=f"{RESULTS}/tables/popularity.csv",
        png=report(
            f"{RESULTS}/figures/popularity.png",
            caption="../report/popularity.rst",
            category="Figures",
            labels={"figure": "Fig. 2/4: HitRate by popularity bucket"},
        ),
        pdf=f"{RESULTS}/figures/popularity.pdf",
    params:
        batch_events=config["streaming"]["batch_events"],
        options=config["analyses"]["popularity"],
        optimized=POPULARITY_OBJECTIVE,
        seed=SEED,
        k=config["evaluation"]["k"],
    log:
        f"{RESULTS}/logs/popularity_analysis.log",
    benchmark:
        f"{RESULTS}/benchmarks/popularity_analysis.tsv"
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(1000, song_bytes=128, sequences="train_masked"),
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/popularity_analysis.py"


rule select_coherence_spaces:
    input:
        trials=expand(f"{RESULTS}/hpo/{{study}}/trials.csv", study=list(STUDIES) + PARETO),
    output:
        spaces=expand(f"{RESULTS}/coherence/{{space}}.json", space=COHERENCE_SPACES),
    params:
        studies=list(STUDIES) + PARETO,
    log:
        f"{RESULTS}/logs/select_coherence_spaces.log",
    benchmark:
        f"{RESULTS}/benchmarks/select_coherence_spaces.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/select_coherence_spaces.py"


rule coherence_vs_vrc:
    input:
        spaces=expand(f"{RESULTS}/coherence/{{space}}.json", space=COHERENCE_SPACES),
        metrics=expand(
            f"{RESULTS}/metrics/{{space}}/seed-{FIRST_SEED}/test.json",
            space=COHERENCE_SPACES,
        ),
    output:
        table=f"{RESULTS}/tables/coherence_vs_vrc.csv",
        png=report(
            f"{RESULTS}/figures/coherence_vs_vrc.png",
            caption="../report/coherence_vs_vrc.rst",
            category="Figures",
            labels={"figure": "Fig. 1: local coherence against VRC"},
        ),
        pdf=f"{RESULTS}/figures/coherence_vs_vrc.pdf",
    log:
        f"{RESULTS}/logs/coherence_vs_vrc.log",
    benchmark:
        f"{RESULTS}/benchmarks/coherence_vs_vrc.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/coherence_vs_vrc.py"


rule scale_table:
    input:
        metrics=final_outputs(["default"] + SCALE_STUDIES, "test.json"),
        pairs=final_outputs(["default"] + SCALE_STUDIES, "test_pairs.parquet"),
        songs=final_outputs(["default"] + SCALE_STUDIES, "test_songs.parquet"),
        summaries=expand(f"{RESULTS}/hpo/{{study}}/summary.json", study=SCALE_STUDIES),
        paper=PAPER_RESULTS,
    output:
        csv=f"{RESULTS}/tables/table6.csv",
        markdown=f"{RESULTS}/tables/table6.md",
        html=report(
            f"{RESULTS}/tables/table6.html",
            caption="../report/table6.rst",
            category="Tables",
            labels={"table": "Table 6: HPO at increasing subsample rates"},
        ),
        tests=f"{RESULTS}/tables/table6_tests.csv",
    params:
        settings=["default"] + SCALE_STUDIES,
        fractions=SCALE_FRACTIONS,
        seeds=config["final"]["seeds"],
        level=config["final"]["significance_level"],
        not_applicable=DATASET.not_applicable(),
    log:
        f"{RESULTS}/logs/scale_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/scale_table.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/scale_table.py"


rule play_rate_analysis:
    input:
        test=f"{RESULTS}/data/split/test.parquet",
        models=expand(
            f"{RESULTS}/models/{{setting}}/seed-{FIRST_SEED}/vectors.kv",
            setting=TABLE4_SETTINGS,
        ),
        best=expand(f"{RESULTS}/hpo/{{study}}/best.json", study=STUDIES),
        paper=PAPER_RESULTS,
    output:
        csv=f"{RESULTS}/tables/table5.csv",
        markdown=f"{RESULTS}/tables/table5.md",
        html=report(
            f"{RESULTS}/tables/table5.html",
            caption="../report/table5.rst",
            category="Tables",
            labels={"table": "Table 5: transition rate against cosine similarity (proxy)"},
        ),
        bins=f"{RESULTS}/tables/play_rate_by_similarity.csv",
        png=report(
            f"{RESULTS}/figures/play_rate.png",
            caption="../report/play_rate.rst",
            category="Figures",
            labels={"figure": "Fig. 3: relative transition rate by cosine similarity (proxy)"},
        ),
        pdf=f"{RESULTS}/figures/play_rate.pdf",
    params:
        settings=TABLE4_SETTINGS,
        studies=STUDIES,
        frequent=config["analyses"]["play_rate"]["frequent_min_transitions"],
        max_gap_seconds=config["analyses"]["play_rate"]["max_gap_seconds"],
    log:
        f"{RESULTS}/logs/play_rate_analysis.log",
    benchmark:
        f"{RESULTS}/benchmarks/play_rate_analysis.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/play_rate_analysis.py"


rule tradeoff_plot:
    input:
        trials=expand(f"{RESULTS}/hpo/{{study}}/trials.csv", study=list(STUDIES) + PARETO),
        best=expand(f"{RESULTS}/hpo/{{study}}/best.json", study=list(STUDIES) + PARETO),
    output:
        png=report(
            f"{RESULTS}/figures/tradeoff.png",
            caption="../report/tradeoff.rst",
            category="Figures",
            labels={"figure": "Trade-off: every trial in the HitRate x VRCGenre plane"},
        ),
        pdf=f"{RESULTS}/figures/tradeoff.pdf",
    params:
        studies=list(STUDIES) + PARETO,
        objectives=STUDIES,
        pareto_study=PARETO_STUDY,
        k=config["evaluation"]["k"],
    log:
        f"{RESULTS}/logs/tradeoff_plot.log",
    benchmark:
        f"{RESULTS}/benchmarks/tradeoff_plot.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/tradeoff_plot.py"


rule models_table:
    input:
        metrics=final_outputs(MODELS_TABLE_SETTINGS, "test.json", seeds=MODELS_SEEDS),
        pairs=final_outputs(MODELS_TABLE_SETTINGS, "test_pairs.parquet", seeds=MODELS_SEEDS),
        records=final_outputs(
            MODELS_TABLE_SETTINGS, "record.json", seeds=MODELS_SEEDS, folder="models"
        ),
        summaries=expand(f"{RESULTS}/hpo/{{study}}/summary.json", study=MODELS_TABLE_STUDIES),
        reference_record=study_reference("HitRate"),
    output:
        csv=f"{RESULTS}/tables/models.csv",
        markdown=f"{RESULTS}/tables/models.md",
        html=report(
            f"{RESULTS}/tables/models.html",
            caption="../report/models.rst",
            category="Tables",
            labels={"table": "Models: other embeddings and baselines against skip-gram"},
        ),
        tests=f"{RESULTS}/tables/models_tests.csv",
        png=report(
            f"{RESULTS}/figures/models.png",
            caption="../report/models_figure.rst",
            category="Figures",
            labels={"figure": "Models: test HitRate, NDCG and training time"},
        ),
        pdf=f"{RESULTS}/figures/models.pdf",
    params:
        rows=MODELS_TABLE_ROWS,
        studies=MODELS_TABLE_STUDIES,
        seeds=MODELS_SEEDS,
        level=config["final"]["significance_level"],
        not_applicable=DATASET.not_applicable(),
        budget_factor=config["hpo"]["time_budget_factor"],
        k=config["evaluation"]["k"],
    log:
        f"{RESULTS}/logs/models_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/models_table.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/models_table.py"


rule package_versions:
    output:
        report(
            f"{RESULTS}/versions.json",
            caption="../report/versions.rst",
            category="Run",
            labels={"item": "package versions and configuration"},
        ),
    params:
        config=config,
    log:
        f"{RESULTS}/logs/package_versions.log",
    benchmark:
        f"{RESULTS}/benchmarks/package_versions.tsv"
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/analyses.yaml"
    script:
        "../../scripts/package_versions.py"
