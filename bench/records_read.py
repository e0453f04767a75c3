"""How fast records are read strictly: `Result.from_json` and `Result.from_dict` of 10,000 results.

    python bench/records_read.py [--results 10000] [--repeats 7]

Prints the best of `repeats` timings of reading every result from its JSON text (what a store read does per
record) and from an already parsed dict (the type checking of `openasr_core.schema` alone, without `json.loads`).
The board reads up to 10,000 results; issue 24's target is within about 2x of the untyped reading it replaced
(0.6-1.0 s for 10,000 on the shared 2-core development machine, where both measured alike).

The records are SYNTHETIC (`testkit.factories.make_result`), made up inside this benchmark only.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from openasr_core.records import Result
from testkit.factories import make_result


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The shortest wall time of `repeats` runs of `work`, in seconds (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    texts = [make_result(f"req-{n:05d}", wers={"ami": 0.2, "librispeech": 0.05}).to_json() for n in range(args.results)]
    parsed = [json.loads(text) for text in texts]
    from_json = best_of(args.repeats, lambda: [Result.from_json(text) for text in texts])
    from_dict = best_of(args.repeats, lambda: [Result.from_dict(data) for data in parsed])
    print(f"Result.from_json x{args.results}: {from_json:.3f} s ({1e6 * from_json / args.results:.0f} us each)")
    print(f"Result.from_dict x{args.results}: {from_dict:.3f} s ({1e6 * from_dict / args.results:.0f} us each)")


if __name__ == "__main__":
    main()
