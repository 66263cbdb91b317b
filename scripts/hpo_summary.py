"""Best configuration, all trials and a summary of one finished study (rule hpo_summary)."""

from songvec import atomic, hpo
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    study = hpo.load_study(snakemake.params.study_name, snakemake.params.storage)
    summary = hpo.study_summary(study)
    atomic.write_text(snakemake.output.trials, hpo.trials_frame(study).to_csv(index=False))
    atomic.write_json(snakemake.output.summary, summary)
    best = hpo.representative_trial(study)
    atomic.write_json(snakemake.output.best, {"study": study.study_name, "trial": best.number,
                                              "best_params": best.params,
                                              "best_metrics": best.user_attrs.get("metrics")})
    log.info("study %s: %d trials, best trial %d %s", study.study_name, summary["n_trials"], best.number,
             best.params)
