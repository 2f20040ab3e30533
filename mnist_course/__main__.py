"""Command line: ``python -m mnist_course data verify``, ``... notebooks run|check``,
``... claims [--check]`` and ``... demo`` (the draw-a-digit page on the course's model)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from mnist_course import data
from mnist_course.course import notebooks
from mnist_course.course.profile import PROFILES


def _data_verify(args: argparse.Namespace) -> int:
    try:
        for line in data.verify(args.data_dir):
            print(line)
    except data.MnistDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("All four MNIST files match their SHA-256 sums.")
    return 0


def _notebooks_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    for path in tqdm(args.notebooks, desc=f"notebooks ({args.profile})", unit="nb"):
        # in place: run into a scratch copy first, so a failed run leaves the notebook intact
        out_dir = Path("build/reproduce") if args.in_place else args.output_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        output = out_dir / path.name
        seconds = notebooks.execute(path, output, args.profile)
        if args.in_place:
            notebooks.stamp(output, args.profile, seconds)
            shutil.copyfile(output, path)
            output = path
        tqdm.write(f"{path}: {seconds:.1f} s ({args.profile}) -> {output}")
    return 0


def _notebooks_check(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.notebooks:
        for problem in notebooks.problems(path):
            print(f"{path}: {problem}")
            bad += 1
    if bad:
        print("Fix: run `make reproduce` and commit the notebooks and their .py twins.")
    return 1 if bad else 0


def _claims(args: argparse.Namespace) -> int:
    from mnist_course.course import ledger

    if args.check:
        problems = ledger.problems()
        for problem in problems:
            print(problem)
        if problems:
            print("Fix: re-run the chapter named (`make reproduce`), then run `python -m "
                  f"mnist_course claims` and commit README.md, {ledger.BOOK_PAGE} and "
                  f"{ledger.FOREST}.")
        return 1 if problems else 0
    ledger.write()
    print(f"wrote the claims table of README.md and {ledger.BOOK_PAGE}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import signal
    import tempfile
    import time

    from mnist_course import canvas
    from mnist_course.serving import stack

    missing = stack.missing_programs(("nginx",))
    if missing:
        print("error: the demo needs nginx (Debian: sudo apt-get install nginx)",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mnist-demo-") as scratch:
        try:
            base = canvas.with_canvas(args.model_base_path.resolve(), scratch)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if base != args.model_base_path.resolve():
            print(f"{args.model_base_path} has no '{canvas.SIGNATURE}' signature: serving a "
                  "copy with it")
        prometheus = not stack.missing_programs(("prometheus",))
        with stack.Stack(base, replicas=args.replicas, prometheus=prometheus) as running:
            print(f"Draw a digit: open {running.rest_url}/ in a browser (Ctrl-C stops the "
                  f"demo; {args.replicas} replica(s) behind nginx"
                  + (f", Prometheus at {running.prometheus_url}" if prometheus else "")
                  + ")", flush=True)
            stop: list[int] = []
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, lambda *_: stop.append(1))
            while not stop:
                time.sleep(0.5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data_p = sub.add_parser("data", help="the MNIST files")
    data_p = data_p.add_subparsers(dest="action", required=True)
    verify = data_p.add_parser("verify", help="check the four files against their SHA-256 sums")
    verify.add_argument("--data-dir", type=Path, help="folder to check (default: lookup order)")
    verify.set_defaults(func=_data_verify)

    nb_p = sub.add_parser("notebooks", help="run or check the notebooks")
    nb_sub = nb_p.add_subparsers(dest="action", required=True)
    run = nb_sub.add_parser("run", help="execute notebooks with papermill in a fresh kernel each")
    run.add_argument("notebooks", nargs="+", type=Path)
    run.add_argument("--profile", choices=PROFILES, default="quick")
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--in-place", action="store_true", help="overwrite and stamp (reproduce)")
    where.add_argument("--output-dir", type=Path, help="write executed copies here")
    run.set_defaults(func=_notebooks_run)
    chk = nb_sub.add_parser("check", help="stamp, execution order and error outputs")
    chk.add_argument("notebooks", nargs="+", type=Path)
    chk.set_defaults(func=_notebooks_check)

    claims_p = sub.add_parser("claims", help="generate the README's claims table and "
                                             "book/claims.md from the committed notebooks")
    claims_p.add_argument("--check", action="store_true",
                          help="only check: they are current and every stored verdict follows "
                               "from its stored numbers (exit 1 if not)")
    claims_p.set_defaults(func=_claims)

    demo = sub.add_parser("demo", help="serve the draw-a-digit page on the course's model "
                                       "(nginx in front of the replicas)")
    demo.add_argument("--model_base_path", type=Path,
                      default=Path(__file__).resolve().parents[1] / "models" / "mnist")
    demo.add_argument("--replicas", type=int, default=2)
    demo.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
