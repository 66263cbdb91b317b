"""The paper's figures (Fig. 1, 2/4 and 3 analogs, and the HPO trade-off plot) and the tables behind them.

Every figure comes as a pair of functions: one computes the plotted numbers as a DataFrame (the
table the workflow saves beside the figure, and what the tests check), the other draws that table
and writes it as PNG (:data:`DPI` dots per inch) and PDF, each atomically
(:func:`songvec.atomic.atomic_path`). Figures are built on :class:`matplotlib.figure.Figure`
without pyplot, so no global backend or figure registry is touched.

- popularity (Fig. 2/4, section 4.5): :func:`popularity_cells`, :func:`popularity_figure`;
- local coherence against VRC (Fig. 1, section 4.3; the spaces: :mod:`songvec.coherence_spaces`):
  :func:`coherence_table`, :func:`coherence_correlations`, :func:`coherence_figure`;
- play-rate PROXY (Table 5 and Fig. 3, section 4.6): :func:`play_rate_roles`,
  :func:`play_rate_correlations`, :func:`table5`, :func:`play_rate_bins`, :func:`play_rate_figure`;
- every HPO trial in the HitRate x VRC-genre plane: :func:`tradeoff_points`, :func:`best_points`,
  :func:`non_dominated`, :func:`tradeoff_figure`.
"""

from __future__ import annotations

import logging
import os
from typing import Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from songvec import play_rate, popularity, tables
from songvec.atomic import atomic_path
from songvec.objectives import Objective

log = logging.getLogger(__name__)

DPI = 150
#: Font sizes in points: nothing smaller than 9 pt at the figures' 7-10 inch widths.
STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9.5,
         "ytick.labelsize": 9.5, "legend.fontsize": 9.5, "legend.title_fontsize": 10, "figure.titlesize": 12}
HEATMAP_CMAP = "viridis"
#: Two colour-blind-safe colours (Okabe-Ito blue and vermillion) for default against optimized.
PAIR_COLOURS = ("#0072B2", "#D55E00")
MARKERS = "osD^vP*Xph<>"
#: Bins of Fig. 3 with fewer pairs than this are drawn hatched and pale: their mean rate is noisy.
FEW_PAIRS = 30
ROLES = {"default": "Default", "single": "Single-obj", "multi": "Multi-obj"}
SUBSETS = {"all": "All pairs", "frequent": "Frequent pairs"}
PAPER_TABLE5_SUBSETS = {"all": "all_pairs", "frequent": "frequent_pairs"}

PathLike = str | os.PathLike


# ----------------------------------------------------------------------------- shared helpers

def display_name(setting: str) -> str:
    """Human-readable name of a setting or study: ``lambdaGenre-0.01`` -> ``λGenre(0.01)``.

    Names that are no objective (``default``, ``HitRate-sample0.01``, the Pareto study) are returned
    unchanged, except that the Pareto study ``Pareto-A-B`` reads ``Pareto (A, B)``.
    """
    try:
        return Objective.parse(setting).name.replace("lambda", "λ")
    except ValueError:
        if setting.startswith("Pareto-"):
            return f"Pareto ({', '.join(setting.removeprefix('Pareto-').split('-'))})"
        return setting


def save_figure(fig: Figure, png_path: PathLike, pdf_path: PathLike) -> None:
    """Write ``fig`` as PNG (:data:`DPI`) and PDF, each atomically; the PDF carries no creation date,
    so an unchanged figure gives identical bytes."""
    with matplotlib.rc_context(STYLE):
        with atomic_path(png_path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
        with atomic_path(pdf_path, suffix=".pdf") as tmp:
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})
    log.info("figure written: %s and %s", png_path, pdf_path)


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _colours(n: int) -> list:
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _pearson(x, y) -> tuple[float, float]:
    """Pearson ``(r, p)``; NaN for fewer than 3 points (two points always give r = ±1) or a constant column."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def _as_flag(values: pd.Series) -> np.ndarray:
    """Booleans from a CSV column of True/False/empty (empty and NaN are False)."""
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).to_numpy(dtype=bool)


def _float(value) -> float:
    """JSON number or null (NaN written by :func:`songvec.atomic.write_json`) as a float."""
    return float("nan") if value is None else float(value)


# ----------------------------------------------------------------------------- popularity (Fig. 2/4)

def popularity_cells(song_ids, play_counts, pairs_by_config: Mapping[str, pd.DataFrame], n_buckets: int,
                     pairs_per_cell: int, seed: int) -> pd.DataFrame:
    """HitRate by (query, target) popularity bucket for each configuration, in long form.

    ``song_ids``, ``play_counts``: (V,) distinct track ids of the training data and (V,) number of
    their listening events, in any order (e.g. :func:`songvec.sequences.song_counts` of the training
    batches); :func:`songvec.popularity.popularity_buckets` cuts the songs into ``n_buckets`` buckets
    of equal event share. ``pairs_by_config``: configuration name -> per-pair
    evaluation results (``test_pairs.parquet``: ``query, target, evaluated, hit``). All configurations
    must list the same (query, target) pairs in the same order (the evaluation writes them in a
    model-independent order). Only pairs evaluated under *every* configuration are used (a pair can
    be out of one model's vocabulary), so every configuration is scored on the same pairs and
    :func:`songvec.popularity.bucket_pair_hitrate` draws the same ``pairs_per_cell`` pairs per cell
    for all of them. Pairs left out are counted in ``result.attrs["n_pairs_not_evaluated_by_all"]``,
    pairs with a song that has no training plays (hence no bucket) in ``result.attrs["n_pairs_unbucketed"]``.

    Returns ``config`` + :data:`songvec.popularity.CELL_COLUMNS`, ``n_buckets ** 2`` rows per configuration.
    """
    if not pairs_by_config:
        raise ValueError("pairs_by_config is empty: no configuration to analyse")
    song_ids = np.asarray(song_ids)
    if song_ids.size == 0:
        raise ValueError("song_ids is empty: no play counts for the popularity buckets")
    bucket_of = pd.Series(popularity.popularity_buckets(song_ids, play_counts, n_buckets), index=song_ids)

    names = list(pairs_by_config)
    first = pairs_by_config[names[0]]
    evaluated_by_all = np.ones(len(first), dtype=bool)
    for name, pairs in pairs_by_config.items():
        missing = {"query", "target", "evaluated", "hit"} - set(pairs.columns)
        if missing:
            raise ValueError(f"per-pair results of {name!r} lack columns {sorted(missing)}")
        if len(pairs) != len(first) or not (
                np.array_equal(pairs["query"].to_numpy(), first["query"].to_numpy())
                and np.array_equal(pairs["target"].to_numpy(), first["target"].to_numpy())):
            raise ValueError(f"per-pair results of {name!r} and {names[0]!r} do not list the same (query, target) "
                             f"pairs in the same order ({len(pairs)} and {len(first)} rows)")
        evaluated_by_all &= pairs["evaluated"].to_numpy(dtype=bool)
    n_left_out = int((~evaluated_by_all).sum())
    log.info("popularity: %d songs in %d buckets; %d of %d pairs evaluated by all of %s (%d left out)",
             len(song_ids), n_buckets, int(evaluated_by_all.sum()), len(first), names, n_left_out)

    parts = []
    for name, pairs in pairs_by_config.items():
        cells = popularity.bucket_pair_hitrate(pairs[evaluated_by_all], bucket_of, pairs_per_cell, seed, n_buckets)
        n_unbucketed = cells.attrs["n_pairs_unbucketed"]  # the same for every configuration: same pairs
        parts.append(cells.assign(config=name)[["config", *popularity.CELL_COLUMNS]])
    result = pd.concat(parts, ignore_index=True)
    result.attrs = {"n_pairs_not_evaluated_by_all": n_left_out, "n_pairs_unbucketed": n_unbucketed}
    return result


def popularity_figure(cells: pd.DataFrame, default: str, optimized: str, png_path: PathLike, pdf_path: PathLike,
                      k: int = 100) -> None:
    """Fig. 2/4 analog from :func:`popularity_cells`: (a) ``default`` and (b) ``optimized`` heatmaps
    of HitRate@``k`` by (query, target) bucket, annotated with HitRate and n, on one colour scale
    (empty cells blank); (c) same-bucket HitRate of both with 95% Wilson intervals ("no pairs" where empty)."""
    for name in (default, optimized):
        if name not in set(cells["config"]):
            raise ValueError(f"configuration {name!r} not in the popularity cells (has {sorted(set(cells['config']))})")
    n_buckets = int(cells["query_bucket"].max()) + 1
    metric = f"HitRate@{k}"
    by_config = {name: cells[cells["config"] == name] for name in (default, optimized)}
    finite = cells.loc[cells["config"].isin([default, optimized]), "hitrate"].dropna()
    norm = Normalize(vmin=0.0, vmax=max(float(finite.max()) if len(finite) else 1.0, 1e-9))
    cmap = matplotlib.colormaps[HEATMAP_CMAP].with_extremes(bad="white")

    with matplotlib.rc_context(STYLE):
        fig = _new_figure(10, 9.5)
        grid = fig.add_gridspec(2, 2, height_ratios=[1.25, 1])
        heat_axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])]
        titles = [f"(a) {display_name(default)} configuration", f"(b) optimized: {display_name(optimized)}"]
        for ax, name, title in zip(heat_axes, (default, optimized), titles):
            image = _heatmap(ax, by_config[name], n_buckets, norm, cmap)
            ax.set_title(title)
        fig.colorbar(image, ax=heat_axes, label=metric, shrink=0.85)

        ax = fig.add_subplot(grid[1, :])
        same = popularity.same_bucket_hitrate(by_config)
        width = 0.38
        for i, (name, colour) in enumerate(zip((default, optimized), PAIR_COLOURS)):
            rows = same[same["config"] == name]
            x = rows["bucket"].to_numpy() + (i - 0.5) * width
            hitrate = rows["hitrate"].to_numpy()
            errors = np.vstack([hitrate - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - hitrate])
            ax.bar(x, hitrate, width, yerr=errors, capsize=4, color=colour, label=display_name(name),
                   error_kw={"elinewidth": 1.2, "ecolor": "black"})
            for empty_x in x[rows["n"].to_numpy() == 0]:
                ax.text(empty_x, 0, "no pairs", rotation=90, ha="center", va="bottom", color="0.4", fontsize=9)
        ax.set_xticks(range(n_buckets))
        ax.set_xlim(-0.6, n_buckets - 0.4)
        ax.set_xlabel("popularity bucket of query and target (0 = most popular)")
        ax.set_ylabel(f"{metric} of same-bucket pairs")
        ax.set_title("(c) pairs with query and target in the same bucket (95% Wilson intervals)")
        ax.legend(loc="best", title="configuration")
        ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"{metric} of test pairs by popularity bucket of query (rows) and target (columns)")
    save_figure(fig, png_path, pdf_path)


def _heatmap(ax, cells: pd.DataFrame, n_buckets: int, norm: Normalize, cmap):
    grid = np.full((n_buckets, n_buckets), np.nan)
    counts = np.zeros((n_buckets, n_buckets), dtype=np.int64)
    grid[cells["query_bucket"], cells["target_bucket"]] = cells["hitrate"]
    counts[cells["query_bucket"], cells["target_bucket"]] = cells["n"]
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, origin="upper", aspect="equal")
    for q in range(n_buckets):
        for t in range(n_buckets):
            if counts[q, t] == 0 or np.isnan(grid[q, t]):
                continue
            red, green, blue, _ = cmap(norm(grid[q, t]))
            ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            ax.text(t, q, f"{grid[q, t]:.3f}\nn={counts[q, t]:,}", ha="center", va="center", color=ink, fontsize=9)
    ax.set_xticks(range(n_buckets))
    ax.set_yticks(range(n_buckets))
    ax.set_xticks(np.arange(n_buckets + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_buckets + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.85", linewidth=1)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("target popularity bucket")
    ax.set_ylabel("query popularity bucket (0 = most popular)")
    return image


# ----------------------------------------------------------------------------- coherence (Fig. 1)

COHERENCE_COLUMNS = ["setting", "vrc_genre", "genre_coherence", "genre_ci_low", "genre_ci_high", "genre_n",
                     "vrc_artist", "artist_coherence", "artist_ci_low", "artist_ci_high", "artist_n"]


def coherence_table(metrics_by_setting: Mapping[str, Mapping]) -> pd.DataFrame:
    """The Fig. 1 points: VRC and Local Coherence (mean, 95% CI, n) of each setting.

    ``metrics_by_setting``: setting -> its test metrics JSON (``vrc_genre``, ``vrc_artist``,
    ``genre_coherence`` and ``artist_coherence`` summaries with ``n, mean, ci_low, ci_high``), e.g. the
    spaces of :func:`songvec.coherence_spaces.select_spaces`. Settings missing a VRC or a coherence mean
    (NaN/null) cannot be placed; they are left out, counted in ``result.attrs["n_settings_incomplete"]``
    and logged. Returns :data:`COHERENCE_COLUMNS`, sorted by increasing VRC-genre.
    """
    rows = []
    for setting, metrics in metrics_by_setting.items():
        row = {"setting": setting}
        for kind in ("genre", "artist"):
            if f"{kind}_coherence" not in metrics:
                raise ValueError(f"metrics of {setting!r} have no {kind}_coherence (evaluated without coherence?)")
            summary = metrics[f"{kind}_coherence"]
            row |= {f"vrc_{kind}": _float(metrics[f"vrc_{kind}"]), f"{kind}_coherence": _float(summary["mean"]),
                    f"{kind}_ci_low": _float(summary["ci_low"]), f"{kind}_ci_high": _float(summary["ci_high"]),
                    f"{kind}_n": int(summary["n"])}
        rows.append(row)
    table = pd.DataFrame(rows, columns=COHERENCE_COLUMNS)
    placeable = table[["vrc_genre", "genre_coherence", "vrc_artist", "artist_coherence"]].notna().all(axis=1)
    if not placeable.all():
        log.warning("coherence: %d settings without VRC or coherence mean are left out: %s",
                    int((~placeable).sum()), list(table.loc[~placeable, "setting"]))
    result = table[placeable].sort_values(["vrc_genre", "setting"], ignore_index=True)
    if result.empty:
        raise ValueError("no setting has both VRC values and both coherence means")
    result.attrs["n_settings_incomplete"] = int((~placeable).sum())
    return result


def coherence_correlations(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Pearson correlation of coherence and VRC over the plotted spaces, per kind, with its 95% confidence
    interval by Fisher's z (``atanh(r) +- 1.96 / sqrt(n - 3)``): ``{"genre": {"r", "ci_low", "ci_high",
    "p", "n"}, "artist": {...}}``. r and p are NaN for fewer than 3 spaces, the interval for fewer than 4."""
    result = {}
    for kind in ("genre", "artist"):
        r, p = _pearson(table[f"vrc_{kind}"], table[f"{kind}_coherence"])
        n = len(table)
        low = high = float("nan")
        if n > 3 and np.isfinite(r):
            z, half = np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12)), stats.norm.ppf(0.975) / np.sqrt(n - 3)
            low, high = float(np.tanh(z - half)), float(np.tanh(z + half))
        result[kind] = {"r": r, "ci_low": low, "ci_high": high, "p": p, "n": n}
    return result


def coherence_figure(table: pd.DataFrame, png_path: PathLike, pdf_path: PathLike) -> None:
    """Fig. 1 analog from :func:`coherence_table`: Local Genre Coherence against VRC-genre (left) and
    Local Artist Coherence against VRC-artist (right); means with 95% CIs, one colour and marker per
    setting (named in a shared legend, so labels never overlap), Pearson r in each panel's title."""
    correlations = coherence_correlations(table)
    colours = _colours(len(table))
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(10, 5.2)
        axes = fig.subplots(1, 2)
        for ax, kind, title in zip(axes, ("genre", "artist"), ("(a) genre", "(b) artist")):
            for i, row in enumerate(table.itertuples(index=False)):
                mean = getattr(row, f"{kind}_coherence")
                errors = [[mean - getattr(row, f"{kind}_ci_low")], [getattr(row, f"{kind}_ci_high") - mean]]
                ax.errorbar(getattr(row, f"vrc_{kind}"), mean, yerr=np.nan_to_num(errors),
                            fmt=MARKERS[i % len(MARKERS)], color=colours[i], markersize=8, capsize=4, elinewidth=1.3,
                            label=display_name(row.setting))
            found = correlations[kind]
            r = f"{found['r']:.2f}" if np.isfinite(found["r"]) else "n/a"
            ci = (f" [95% CI {found['ci_low']:.2f}, {found['ci_high']:.2f}]"
                  if np.isfinite(found["ci_low"]) else "")
            ax.set_title(f"{title}: Pearson r = {r}{ci}\nover {found['n']} spaces")
            ax.margins(x=0.12, y=0.15)
            ax.grid(alpha=0.3)
            ax.set_xlabel(f"VRC-{kind} (Calinski-Harabasz index, unitless)")
            ax.set_ylabel(f"Local {kind.capitalize()} Coherence\n(share of nearest neighbours, same {kind})")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), title="embedding space")
        fig.suptitle("Local coherence against VRC (means with 95% confidence intervals)")
    save_figure(fig, png_path, pdf_path)


# ----------------------------------------------------------------------------- play rate (Table 5, Fig. 3)

def play_rate_roles(best_by_study: Mapping[str, Mapping], objectives: Mapping[str, str]) -> dict[str, str]:
    """The three embeddings of Table 5: ``{"default": "default", "single": <study>, "multi": <study>}``.

    ``objectives``: study -> objective name (e.g. ``{"HitRate": "HitRate", "lambdaGenre-0.01":
    "lambdaGenre(0.01)"}``); ``best_by_study``: study -> its ``best.json``. Single-objective is the
    HitRate study; multi-objective is the lambda study whose best trial has the highest *validation*
    HitRate (``best_metrics.hitrate``; the paper takes the configurations "having the highest
    HitRate"), ties going to the study listed first in ``objectives``. Without a lambda study (data with
    neither genres nor artists) there is no ``multi`` role.
    """
    single = [study for study, name in objectives.items() if Objective.parse(name) == Objective("HitRate")]
    if not single:
        raise ValueError(f"no HitRate study among the objectives {dict(objectives)}: Table 5 needs the best "
                         "single-objective (HitRate) embeddings")
    lambdas = [study for study, name in objectives.items() if Objective.parse(name).alpha is not None]
    if not lambdas:
        log.warning("play rate: no lambda (multi-objective) study among the objectives %s: no multi-objective "
                    "column", dict(objectives))
        return {"default": "default", "single": single[0]}
    hitrates = {}
    for study in lambdas:
        if study not in best_by_study:
            raise ValueError(f"no best.json given for study {study!r}")
        metrics = best_by_study[study].get("best_metrics") or {}
        if "hitrate" not in metrics:
            raise ValueError(f"best.json of study {study!r} has no best_metrics.hitrate")
        hitrates[study] = float(metrics["hitrate"])
    multi = max(lambdas, key=lambda study: hitrates[study])  # max keeps the first of equal values
    log.info("play rate: multi-objective embeddings of %s (validation HitRate %s)", multi,
             {s: round(h, 4) for s, h in hitrates.items()})
    return {"default": "default", "single": single[0], "multi": multi}


def play_rate_correlations(rates: pd.DataFrame, embeddings: Mapping[str, tuple[np.ndarray, np.ndarray]],
                           roles: Mapping[str, str], frequent_min_transitions: int) -> pd.DataFrame:
    """Table 5 analog in long form: Pearson correlation of transition rate and cosine similarity.

    ``rates``: :func:`songvec.play_rate.transition_rates`; ``embeddings``: setting -> ``(vectors (V, d),
    track_ids (V,))`` (:func:`songvec.training.load_vectors`); ``roles``: role (``default``, ``single``,
    ``multi``) -> setting. Only pairs whose two songs are in *every* vocabulary are used, so the
    embeddings are compared on the same pairs (the others are counted in
    ``result.attrs["n_pairs_not_in_all_vocabularies"]``). "Frequent" pairs have at least
    ``frequent_min_transitions`` transitions.

    Returns one row per role and subset: ``role, setting, subset`` (``all``/``frequent``),
    ``min_transitions, pearson, p_value, n_pairs``.
    """
    missing = [setting for setting in roles.values() if setting not in embeddings]
    if missing:
        raise ValueError(f"no embeddings given for settings {missing}")
    shared = None
    for setting in dict.fromkeys(roles.values()):
        ids = np.asarray(embeddings[setting][1], dtype=np.int64)
        shared = ids if shared is None else np.intersect1d(shared, ids)
    in_all = np.isin(rates["song_a"].to_numpy(), shared) & np.isin(rates["song_b"].to_numpy(), shared)
    common = rates[in_all]
    n_left_out = int((~in_all).sum())
    log.info("play rate: %d of %d pairs have both songs in all %d vocabularies (%d left out)",
             len(common), len(rates), len(set(roles.values())), n_left_out)
    rows = []
    for role, setting in roles.items():
        vectors, track_ids = embeddings[setting]
        found = play_rate.similarity_correlation(common, vectors, _key_index(track_ids), min_transitions=1,
                                                 frequent_min_transitions=frequent_min_transitions)
        for subset, threshold in (("all", 1), ("frequent", frequent_min_transitions)):
            rows.append({"role": role, "setting": setting, "subset": subset, "min_transitions": threshold,
                         "pearson": found[f"pearson_{subset}"], "p_value": found[f"p_value_{subset}"],
                         "n_pairs": found[f"n_pairs_{subset}"]})
    result = pd.DataFrame(rows)
    result.attrs["n_pairs_not_in_all_vocabularies"] = n_left_out
    return result


def table5(correlations: pd.DataFrame, paper: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Display table of Table 5 from :func:`play_rate_correlations`, laid out as in the paper.

    Rows: all pairs, frequent pairs (with the threshold); columns: Pearson r of each role (header names
    the setting), the number of pairs (one number when all roles agree, else ``a / b / c``) and, with
    ``paper`` (``paper_results.yaml`` key ``table5``: ``{"all_pairs": {"default": r, "single": r,
    "multi": r}, "frequent_pairs": {...}}``), the paper's value beside each of ours.
    """
    lines, formats = [], {}
    for subset, label in SUBSETS.items():
        rows = correlations[correlations["subset"] == subset].set_index("role")
        threshold = int(rows["min_transitions"].iloc[0])
        line = {"Pairs": label if subset == "all" else f"{label} (≥ {threshold} transitions)"}
        for role, header in ROLES.items():
            if role not in rows.index:
                continue
            header = header if role == "default" else f"{header} ({display_name(rows.at[role, 'setting'])})"
            line[header] = rows.at[role, "pearson"]
            formats[header] = ".4f"
            if paper is not None:
                line[ROLES[role] + tables.PAPER_SUFFIX] = paper[PAPER_TABLE5_SUBSETS[subset]][role]
                formats[ROLES[role] + tables.PAPER_SUFFIX] = ".4f"
        counts = rows["n_pairs"].astype(int)
        line["n pairs"] = f"{counts.iloc[0]:,}" if counts.nunique() == 1 else " / ".join(f"{n:,}" for n in counts)
        lines.append(line)
    return tables.format_table(pd.DataFrame(lines), formats)


def play_rate_bins(rates: pd.DataFrame, vectors: np.ndarray, track_ids, bin_width: float = 0.1) -> pd.DataFrame:
    """Fig. 3 numbers: :func:`songvec.play_rate.rate_by_similarity` on the cosine similarities of one
    embedding (``vectors`` (V, d), row ``i`` is ``track_ids[i]``); pairs without a vector are counted
    in ``result.attrs["n_pairs_no_vector"]``."""
    cosine = play_rate.pair_cosine(rates, vectors, _key_index(track_ids))
    bins = play_rate.rate_by_similarity(rates, cosine, bin_width)
    log.info("play rate by similarity: %d bins from %d pairs (%d without vector)", len(bins), int(bins["n"].sum()),
             bins.attrs["n_pairs_no_vector"])
    return bins


def play_rate_figure(bins: pd.DataFrame, png_path: PathLike, pdf_path: PathLike, setting: str = "default",
                     bin_width: float = 0.1) -> None:
    """Fig. 3 analog from :func:`play_rate_bins`: relative transition rate by cosine-similarity bin.

    The number of pairs is printed above each bar; bins with fewer than :data:`FEW_PAIRS` pairs are
    hatched. When the similarity-0.0 bin is empty
    (relative rates all NaN) the mean rate itself is drawn and the axis says so.
    """
    relative = bins["relative_rate"].notna().any()
    column = "relative_rate" if relative else "mean_rate"
    if not relative:
        log.warning("play rate figure: no similarity-0.0 bin; plotting the mean transition rate instead")
    few = bins["n"].to_numpy() < FEW_PAIRS
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(8, 4.8)
        ax = fig.subplots()
        x, height, n = bins["similarity_bin"].to_numpy(), bins[column].to_numpy(), bins["n"].to_numpy()
        for subset, style, label in ((~few, {"color": PAIR_COLOURS[0]}, f"bins with ≥ {FEW_PAIRS} pairs"),
                                     (few, {"color": "white", "edgecolor": PAIR_COLOURS[0], "hatch": "///"},
                                      f"bins with < {FEW_PAIRS} pairs (noisy)")):
            if subset.any():
                bars = ax.bar(x[subset], height[subset], width=bin_width * 0.85, label=label, **style)
                ax.bar_label(bars, labels=[f"n={count:,}" for count in n[subset]], rotation=90, padding=3,
                             fontsize=9)
        ax.margins(y=0.25)
        if relative:
            ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1, label="rate at similarity 0.0")
        ax.set_xlabel(f"cosine similarity (bins of {bin_width:g})")
        ax.set_ylabel("transition rate relative to similarity 0.0" if relative
                      else "mean transition rate (no pairs at similarity 0.0)")
        ax.set_xticks(np.round(np.arange(np.floor(x.min() * 5) / 5, x.max() + 1e-9, 0.2), 1) if len(x) else [])
        ax.grid(axis="y", alpha=0.3)
        fig.legend(loc="outside lower center", ncols=3)
        ax.set_title(f"PROXY for play rate: transition rate of held-out sequences by cosine similarity\n"
                     f"({display_name(setting)} embeddings; n = song pairs in the bin)")
    save_figure(fig, png_path, pdf_path)


def _key_index(track_ids) -> dict[int, int]:
    return {int(track): row for row, track in enumerate(np.asarray(track_ids, dtype=np.int64).tolist())}


# ----------------------------------------------------------------------------- HPO trade-off

TRADEOFF_COLUMNS = ["study", "number", "hitrate", "vrc_genre", "default_config"]


def tradeoff_points(trials_by_study: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every finished, feasible trial of every study in the (validation HitRate, VRC-genre) plane.

    ``trials_by_study``: study -> its ``trials.csv`` (:func:`songvec.hpo.trials_frame`: ``number, state,
    infeasible, metric_hitrate, metric_vrc_genre`` and, if present, ``default_config``). Kept: state
    COMPLETE, not infeasible, both metrics finite. Whatever is left out is counted per study and
    reason in ``result.attrs["excluded"]`` (``{study: {"infeasible": n, "not_complete": n,
    "no_metrics": n}}``) and logged. Returns :data:`TRADEOFF_COLUMNS`.
    """
    parts, excluded = [], {}
    for study, trials in trials_by_study.items():
        missing = {"number", "state"} - set(trials.columns)
        if missing:
            raise ValueError(f"trials of study {study!r} lack columns {sorted(missing)}")
        infeasible = _as_flag(trials["infeasible"]) if "infeasible" in trials else np.zeros(len(trials), bool)
        complete = (trials["state"] == "COMPLETE").to_numpy() & ~infeasible
        metrics = pd.DataFrame({key: pd.to_numeric(trials[f"metric_{key}"], errors="coerce")
                                if f"metric_{key}" in trials else np.full(len(trials), np.nan)
                                for key in ("hitrate", "vrc_genre")})
        has_metrics = np.isfinite(metrics.to_numpy()).all(axis=1)
        kept = complete & has_metrics
        excluded[study] = {"infeasible": int(infeasible.sum()), "not_complete": int((~complete & ~infeasible).sum()),
                           "no_metrics": int((complete & ~has_metrics).sum())}
        default_config = (_as_flag(trials["default_config"]) if "default_config" in trials
                          else np.zeros(len(trials), bool))
        parts.append(pd.DataFrame({"study": study, "number": trials["number"].to_numpy()[kept].astype(np.int64),
                                   "hitrate": metrics["hitrate"].to_numpy()[kept],
                                   "vrc_genre": metrics["vrc_genre"].to_numpy()[kept],
                                   "default_config": default_config[kept]}, columns=TRADEOFF_COLUMNS))
        log.info("trade-off: study %s: %d trials plotted, left out %s", study, int(kept.sum()), excluded[study])
    result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TRADEOFF_COLUMNS)
    result.attrs["excluded"] = excluded
    return result


def best_points(best_by_study: Mapping[str, Mapping]) -> pd.DataFrame:
    """Best trial of each study from its ``best.json``: ``study, trial, hitrate, vrc_genre`` (validation).

    Studies whose best.json has no ``best_metrics`` (no feasible trial) are left out and logged.
    """
    rows = []
    for study, best in best_by_study.items():
        metrics = best.get("best_metrics")
        if not metrics:
            log.warning("trade-off: best.json of study %s has no best_metrics; no star drawn", study)
            continue
        rows.append({"study": study, "trial": best.get("trial"), "hitrate": _float(metrics["hitrate"]),
                     "vrc_genre": _float(metrics["vrc_genre"])})
    return pd.DataFrame(rows, columns=["study", "trial", "hitrate", "vrc_genre"])


def non_dominated(points: pd.DataFrame, x: str = "hitrate", y: str = "vrc_genre") -> pd.DataFrame:
    """Rows of ``points`` that no other row dominates when both ``x`` and ``y`` are maximised
    (a row dominates another when it is >= in both and > in one; equal rows are all kept),
    sorted by increasing ``x`` (so decreasing ``y``)."""
    values = points[[x, y]].to_numpy(dtype=np.float64)
    dominated = np.array([bool(np.any(np.all(values >= v, axis=1) & np.any(values > v, axis=1))) for v in values],
                         dtype=bool)
    return points[~dominated].sort_values([x, y], ascending=[True, False], kind="stable")


def tradeoff_figure(points: pd.DataFrame, best: pd.DataFrame, png_path: PathLike, pdf_path: PathLike,
                    pareto_study: str | None = None, k: int = 100) -> None:
    """Every trial (:func:`tradeoff_points`) in the validation HitRate x VRC-genre plane, coloured by
    study, each study's best (:func:`best_points`) as a star and, when ``pareto_study`` has trials, the
    front of its non-dominated trials as a step line (the boundary of the region it dominates);
    the default-configuration trials are framed by a black square. Legend outside the axes, on the right."""
    studies = list(dict.fromkeys(points["study"]))
    studies += [s for s in best["study"] if s not in studies]
    colour_of = dict(zip(studies, _colours(len(studies))))
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(10, 6)
        ax = fig.subplots()
        for study in studies:
            mine = points[points["study"] == study]
            ax.scatter(mine["hitrate"], mine["vrc_genre"], s=22, alpha=0.65, color=colour_of[study],
                       edgecolors="none", label=f"{display_name(study)} ({len(mine)})")
        for row in best.itertuples(index=False):
            ax.scatter(row.hitrate, row.vrc_genre, marker="*", s=260, color=colour_of[row.study], edgecolors="black",
                       linewidths=0.9, zorder=4)
        handles, labels = ax.get_legend_handles_labels()
        if len(best):
            handles.append(Line2D([], [], marker="*", linestyle="none", markersize=14, markerfacecolor="0.8",
                                  markeredgecolor="black"))
            labels.append("best trial of a study")
        if pareto_study is not None and (points["study"] == pareto_study).any():
            front = non_dominated(points[points["study"] == pareto_study])
            (line,) = ax.step(front["hitrate"], front["vrc_genre"], where="pre", color="black", linewidth=1.6,
                              zorder=3)
            handles.append(line)
            labels.append(f"Pareto front ({len(front)} trials)")
        defaults = points[points["default_config"]]
        if len(defaults):
            marker = ax.scatter(defaults["hitrate"], defaults["vrc_genre"], marker="s", s=110, facecolors="none",
                                edgecolors="black", linewidths=1.4, zorder=5)
            handles.append(marker)
            labels.append("default configuration")
        ax.set_xlabel(f"validation HitRate@{k} (share of pairs with the target in the top {k})")
        ax.set_ylabel("validation VRC-genre (Calinski-Harabasz index, unitless)")
        ax.grid(alpha=0.3)
        fig.legend(handles, labels, loc="outside right upper", title="study (trials shown)")
        ax.set_title("Every feasible HPO trial, validation metrics")
    save_figure(fig, png_path, pdf_path)


# ----------------------------------------------------------------------------- the models table

def models_figure(rows: pd.DataFrame, budget_seconds: float, png_path: PathLike, pdf_path: PathLike,
                  k: int = 100) -> None:
    """The models table (:func:`songvec.comparison.model_rows`) drawn: left, each row's test HitRate and NDCG
    with their 95% confidence intervals; right, test HitRate against training CPU seconds (log scale) with
    the time budget every study was held to (``budget_seconds``: factor x the skip-gram default's). Colours
    are models; circles defaults, stars tuned configurations."""
    models = list(dict.fromkeys(rows["model"]))
    colour_of = dict(zip(models, _colours(len(models))))
    labels = [f"{model} · {objective if isinstance(objective, str) else 'default'}"
              for model, objective in zip(rows["model"], rows["objective"])]
    tuned = rows["objective"].notna().to_numpy()
    with matplotlib.rc_context(STYLE):
        fig = _new_figure(11, 0.42 * len(rows) + 2.2)
        left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])
        y = np.arange(len(rows))[::-1]
        for metric, offset, marker in (("hitrate", 0.14, "o"), ("ndcg", -0.14, "s")):
            errors = np.abs(rows[[f"{metric}_low", f"{metric}_high"]].to_numpy(float).T
                            - rows[metric].to_numpy(float))
            left.errorbar(rows[metric], y + offset, xerr=errors, fmt=marker, color="0.2", ecolor="0.5",
                          markersize=5, capsize=2, linestyle="none",
                          label=f"{'HitRate' if metric == 'hitrate' else 'NDCG'}@{k}")
        for yy, model in zip(y, rows["model"]):
            left.axhspan(yy - 0.45, yy + 0.45, color=colour_of[model], alpha=0.12, linewidth=0)
        left.set_yticks(y, labels)
        left.set_xlabel("test value (mean over the pairs, 95% CI)")
        left.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        left.grid(axis="x", alpha=0.3)
        for model in models:
            mine = rows["model"] == model
            for is_tuned, marker, size in ((False, "o", 60), (True, "*", 200)):
                chosen = mine & (tuned == is_tuned)
                right.scatter(rows.loc[chosen, "train_cpu_seconds"], rows.loc[chosen, "hitrate"], marker=marker,
                              s=size, color=colour_of[model], edgecolors="black", linewidths=0.6, zorder=3,
                              label=model if not is_tuned else None)
        right.axvline(budget_seconds, color="black", linestyle="--", linewidth=1.2,
                      label="time budget of every trial")
        right.set_xscale("log")
        right.set_xlabel("training time (CPU seconds, log scale)")
        right.set_ylabel(f"test HitRate@{k}")
        right.grid(alpha=0.3)
        right.legend(loc="best", title="model (star: tuned)")
        fig.suptitle("Models on the test split: defaults and tuned configurations")
    save_figure(fig, png_path, pdf_path)
