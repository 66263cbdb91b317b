# Data stage: raw LFM-1b-format files or an events table -> per-user (or per-playlist) sequences -> track
# genres, the track catalogue, 98/1/1 split, Table 2.


rule generate_demo:
    output:
        events=f"{RESULTS}/raw/demo-{{size}}/LFM-1b_LEs.txt",
        tracks=f"{RESULTS}/raw/demo-{{size}}/LFM-1b_tracks.txt",
        artists=f"{RESULTS}/raw/demo-{{size}}/LFM-1b_artists.txt",
        freebase=f"{RESULTS}/raw/demo-{{size}}/LFM-1b_artist_genres_freebase.txt",
        freebase_names=f"{RESULTS}/raw/demo-{{size}}/genres_freebase.txt",
        allmusic=f"{RESULTS}/raw/demo-{{size}}/LFM-1b_artist_genres_allmusic.txt",
        allmusic_names=f"{RESULTS}/raw/demo-{{size}}/genres_allmusic.txt",
        summary=f"{RESULTS}/raw/demo-{{size}}/summary.json",
    params:
        seed=SEED,
    log:
        f"{RESULTS}/logs/generate_demo/{{size}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate_demo/{{size}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/generate_demo.py"


rule download_lfm1b:
    output:
        f"{RESULTS}/raw/lfm1b/archives/{{archive}}",
    wildcard_constraints:
        archive="|".join(LFM1B_ARCHIVES).replace(".", r"\."),
    params:
        mirrors=config["lfm1b"]["mirrors"],
        expected=lambda wildcards: config["lfm1b"]["files"][wildcards.archive],
    log:
        f"{RESULTS}/logs/download_lfm1b/{{archive}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/download_lfm1b/{{archive}}.tsv"
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/download_lfm1b.py"


rule extract_lfm1b:
    input:
        events_archive=lfm1b_archive("LFM-1b.zip"),
        genres_archive=lfm1b_archive("LFM-1b_UGP.zip"),
    output:
        events=f"{RESULTS}/raw/lfm1b/LFM-1b_LEs.txt",
        tracks=f"{RESULTS}/raw/lfm1b/LFM-1b_tracks.txt",
        artists=f"{RESULTS}/raw/lfm1b/LFM-1b_artists.txt",
        freebase=f"{RESULTS}/raw/lfm1b/LFM-1b_artist_genres_freebase.txt",
        freebase_names=f"{RESULTS}/raw/lfm1b/genres_freebase.txt",
        allmusic=f"{RESULTS}/raw/lfm1b/LFM-1b_artist_genres_allmusic.txt",
        allmusic_names=f"{RESULTS}/raw/lfm1b/genres_allmusic.txt",
    log:
        f"{RESULTS}/logs/extract_lfm1b.log",
    benchmark:
        f"{RESULTS}/benchmarks/extract_lfm1b.tsv"
    threads: 1
    resources:
        mem_mb=500,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/extract_lfm1b.py"


rule ingest_events:
    input:
        events=events_input(),
    output:
        sequences=f"{RESULTS}/data/sequences.parquet",
        summary=f"{RESULTS}/data/ingest_summary.json",
        table=directory(f"{RESULTS}/data/table"),
    params:
        options=config["ingest"],
        dataset=config["dataset"],
        events=events_options(),
        seed=SEED,
    log:
        f"{RESULTS}/logs/ingest_events.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_events.tsv"
    threads: 2
    resources:
        mem_mb=lambda wildcards: job_mem_mb(int(config["ingest"]["memory_budget_gb"] * 1024) + 2000),
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/ingest_events.py"


rule map_genres:
    input:
        unpack(label_files),
        sequences=f"{RESULTS}/data/sequences.parquet",
    output:
        genres=f"{RESULTS}/data/track_genres.parquet",
        summary=f"{RESULTS}/data/genre_summary.json",
    params:
        batch_events=config["streaming"]["batch_events"],
    log:
        f"{RESULTS}/logs/map_genres.log",
    benchmark:
        f"{RESULTS}/benchmarks/map_genres.tsv"
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(1000, song_bytes=300),
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/map_genres.py"


rule track_catalogue:
    input:
        unpack(name_files),
        genres=f"{RESULTS}/data/track_genres.parquet",
    output:
        tracks=f"{RESULTS}/data/tracks.parquet",
    log:
        f"{RESULTS}/logs/track_catalogue.log",
    benchmark:
        f"{RESULTS}/benchmarks/track_catalogue.tsv"
    threads: 1
    resources:
        mem_mb=input_size_mem_mb(800, bytes_per_input_byte=6),
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/track_catalogue.py"


rule split_sequences:
    input:
        sequences=f"{RESULTS}/data/sequences.parquet",
    output:
        train=f"{RESULTS}/data/split/train.parquet",
        valid=f"{RESULTS}/data/split/valid.parquet",
        test=f"{RESULTS}/data/split/test.parquet",
        summary=f"{RESULTS}/data/split/summary.json",
    params:
        batch_events=config["streaming"]["batch_events"],
        fractions=SPLIT,
        seed=SEED,
    log:
        f"{RESULTS}/logs/split_sequences.log",
    benchmark:
        f"{RESULTS}/benchmarks/split_sequences.tsv"
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(600),
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/split_sequences.py"


rule dataset_statistics:
    input:
        sequences=f"{RESULTS}/data/sequences.parquet",
        split=f"{RESULTS}/data/split/summary.json",
        pairs=f"{RESULTS}/data/pairs/summary.json",
        paper=PAPER_RESULTS,
    output:
        csv=f"{RESULTS}/tables/table2.csv",
        splits=f"{RESULTS}/tables/splits.csv",
        markdown=f"{RESULTS}/tables/table2.md",
        html=report(
            f"{RESULTS}/tables/table2.html",
            caption="../report/table2.rst",
            category="Tables",
            labels={"table": "Table 2: dataset statistics"},
        ),
    params:
        batch_events=config["streaming"]["batch_events"],
        dataset=DATASET.label,
        sequence_unit=DATASET.sequence_unit,
        fractions=SPLIT,
    log:
        f"{RESULTS}/logs/dataset_statistics.log",
    benchmark:
        f"{RESULTS}/benchmarks/dataset_statistics.tsv"
    threads: 1
    resources:
        mem_mb=streaming_mem_mb(700, song_bytes=64),
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/dataset_statistics.py"
