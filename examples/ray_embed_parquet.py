#!/usr/bin/env python3
"""Embeds a folder of Parquet files into a folder of Parquet files on a Ray cluster.

    python examples/ray_embed_parquet.py corpus/ embedded/ --model all-MiniLM-L6-v2 --concurrency 8

The cluster is the one at RAY_ADDRESS (e.g. ray://head:10001 or head:6379); when it is unset, a
local one is started (--num-cpus CPUs). Every input column is kept and a column of float32 vectors
is added. The model must be loadable on every node (the same folder or name there).
"""
import argparse
import sys
import time

import ray

import embedrt.ray


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="folder (or file) of Parquet files")
    parser.add_argument("output", help="folder to write the Parquet files with embeddings to")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--output-column", default="embedding")
    parser.add_argument("--concurrency", type=int, default=2, help="actors, one model each")
    parser.add_argument("--cpus-per-actor", type=float, default=1,
                        help="CPUs (and engine threads) per actor")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per actor call")
    parser.add_argument("--precision", default=None, help="fp32, bf16 or int8")
    parser.add_argument("--prompt-name", default=None)
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="CPUs of the local cluster started when RAY_ADDRESS is unset")
    args = parser.parse_args()

    # ray.init() joins the cluster named by RAY_ADDRESS, else starts a local one.
    ray.init(num_cpus=args.num_cpus, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = True
    started = time.perf_counter()
    dataset = ray.data.read_parquet(args.input)
    options = {"precision": args.precision} if args.precision else {}
    embedded = embedrt.ray.embed(dataset, args.model, text_column=args.text_column,
                                 output_column=args.output_column, concurrency=args.concurrency,
                                 batch_size=args.batch_size, num_cpus_per_actor=args.cpus_per_actor,
                                 prompt_name=args.prompt_name, **options)
    embedded.write_parquet(args.output)
    seconds = time.perf_counter() - started
    rows = ray.data.read_parquet(args.output).count()
    print(f"embedded {rows} rows into {args.output} in {seconds:.1f} s "
          f"({rows / seconds:.1f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
