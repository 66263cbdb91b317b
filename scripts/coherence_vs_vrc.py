"""Fig. 1 analog: Local Genre/Artist Coherence against VRC-genre/VRC-artist of embedding spaces that
span the VRC range (rule coherence_vs_vrc)."""

from songvec import atomic, figures
from songvec.logs import logged

with logged(snakemake.log[0]) as log:
    metrics = {setting: atomic.read_json(path)
               for setting, path in zip(snakemake.params.settings, snakemake.input.metrics, strict=True)}
    table = figures.coherence_table(metrics, snakemake.params.n_spaces)
    atomic.write_text(snakemake.output.table, table.to_csv(index=False))
    figures.coherence_figure(table, snakemake.output.png, snakemake.output.pdf)
    log.info("plotted spaces:\n%s\ncorrelations: %s", table.to_string(index=False),
             figures.coherence_correlations(table))
