"""Command line: ``python -m songvec neighbours --vectors PATH --track ID [-k 10]``.

Prints the ``k`` songs nearest to song ``ID`` (the dataset's own track id) in exported vectors
(``results/<dataset>/vectors/<setting>.{txt,bin,parquet}``, :mod:`songvec.export`), with their cosine
similarity and, where the dataset gives them, their names and artists.
"""

from __future__ import annotations

import argparse
import sys

from songvec.export import describe_track, nearest, read_exported, row_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m songvec", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    neighbours = commands.add_parser("neighbours", help="the nearest songs of a song in exported vectors")
    neighbours.add_argument("--vectors", required=True,
                            help="exported vectors: results/<dataset>/vectors/<setting>.parquet (.txt, .bin)")
    neighbours.add_argument("--track", required=True, help="the song's id in the dataset")
    neighbours.add_argument("-k", type=int, default=10, help="how many neighbours (default 10)")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("-k must be at least 1")
    try:
        exported = read_exported(args.vectors)
        found = nearest(exported, args.track, args.k)
    except (OSError, KeyError, ValueError) as error:
        print(f"error: {error.args[0] if isinstance(error, KeyError) else error}", file=sys.stderr)
        return 1
    query = exported.names.iloc[row_of(exported, args.track)]
    print(f"The {len(found)} songs nearest to {describe_track(args.track, query['track_name'], query['artist_name'])} "
          f"({args.vectors}, cosine similarity):")
    for row in found.itertuples(index=False):
        print(f"{row.rank:>3}. {row.similarity:.3f}  {describe_track(row.track_id, row.track_name, row.artist_name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
