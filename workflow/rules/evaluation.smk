# Final evaluation: the default and each study's best, retrained with several seeds and tested (Table 4).


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
