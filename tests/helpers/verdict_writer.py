"""Test helper: record verdicts in a loop, printing each one after set_verdict returns.

usage: verdict_writer.py STORE PREFIX COUNT [--shared K] [--wait-go]

Prints ``ready`` once the store is open, then ``<id> <verdict>`` per saved
verdict. With ``--shared K`` it also sets the note of row ``shared-<i % K>``
to ``<reviewer>-<i>`` after each verdict. With ``--wait-go`` it waits for a
line on stdin before writing (so two writers start together). The reviewer
comes from LABELTUI_REVIEWER.
"""

import argparse
import sys

from labeltui.review import VERDICTS, ReviewStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("prefix")
    parser.add_argument("count", type=int)
    parser.add_argument("--shared", type=int, default=0)
    parser.add_argument("--wait-go", action="store_true")
    args = parser.parse_args()
    with ReviewStore.open(args.store, run_name="helper") as store:
        print("ready", flush=True)
        if args.wait_go:
            sys.stdin.readline()
        for i in range(args.count):
            row = f"{args.prefix}-{i}"
            verdict = VERDICTS[i % len(VERDICTS)]
            store.set_verdict([row], verdict)
            if args.shared:
                store.set_note(f"shared-{i % args.shared}", f"{store.reviewer}-{i}")
            print(row, verdict, flush=True)


if __name__ == "__main__":
    main()
