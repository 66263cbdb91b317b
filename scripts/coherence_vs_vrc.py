"""Fig. 1 analog: Local Genre/Artist Coherence against VRC-genre/VRC-artist of the embedding spaces chosen
over the VRC range of the studies (rule coherence_vs_vrc)."""

from songvec import atomic, figures
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    metrics = {}
    for i, (space, path) in enumerate(zip(snakemake.input.spaces, snakemake.input.metrics, strict=True), 1):
        origin = atomic.read_json(space)
        # the trial number is in the space's file, not in the label: a killed and redone trial is renumbered
        metrics[f"space {i}: {figures.display_name(origin['study'])}"] = atomic.read_json(path)
    table = figures.coherence_table(metrics)
    atomic.write_text(snakemake.output.table, table.to_csv(index=False))
    figures.coherence_figure(table, snakemake.output.png, snakemake.output.pdf)
    log.info("plotted spaces:\n%s\ncorrelations: %s", table.to_string(index=False),
             figures.coherence_correlations(table))
