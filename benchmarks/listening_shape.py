"""The shape of the demo's listening data beside real LFM-1b's, statistic by statistic.

Generates the demo (or reads a folder of LFM-1b-format files), computes every statistic of
songvec.listening_shape from the raw files for it and for the real excerpt, and prints a Markdown table
with the tolerance of each and whether the demo is within it (the README's calibration table):

    python benchmarks/listening_shape.py --excerpt EXCERPT
    python benchmarks/listening_shape.py --excerpt EXCERPT --size small --seed 7
    python benchmarks/listening_shape.py --excerpt EXCERPT --folder results/demo-default/raw

The reference is the excerpt's statistic, except re-listening (the excerpt's histories cut to the demo's
history lengths) and the sequence-length quantiles (LFM-1b's Table 2). Exit status 1 if any statistic is
outside its tolerance. EXCERPT is a folder of real LFM-1b files (LFM-1b_LEs.txt and the others, e.g. the
first lines of the events file with the tracks, artists and genres they use); the README says which one the
calibration used.
"""

import argparse
import sys
import tempfile

from songvec import demo_data, tables
from songvec.listening_shape import (comparison_table, history_lengths, listening_statistics, read_plays,
                                     reference_statistics)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--excerpt", required=True, help="folder of real LFM-1b files (a sample of LFM-1b in its own format)")
    parser.add_argument("--size", default="default", help="demo size (default: default)")
    parser.add_argument("--seed", type=int, default=42, help="demo seed (default: 42, the workflow's)")
    parser.add_argument("--folder", help="a folder of LFM-1b-format files to compare instead of a new demo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or tmp
        if not args.folder:
            demo_data.generate(tmp, args.size, args.seed, genre_sources=("allmusic",))
        plays = read_plays(folder)
        observed = listening_statistics(plays)
    reference = reference_statistics(read_plays(args.excerpt), history_lengths(plays))
    table = comparison_table(observed, reference)
    what = args.folder or f"demo ({args.size}, seed {args.seed})"
    shown = table.rename(columns={"observed": what, "reference": "real LFM-1b"})
    shown["within"] = shown["within"].map({True: "yes", False: "NO"})
    print(tables.to_markdown(tables.format_table(shown, {what: ".3f", "real LFM-1b": ".3f"})), end="")
    return 0 if table["within"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
