"""Benchmark (run by hand): what "recover the RSA public key from two tokens" costs in pure Python.

    python tests/benchmarks/key_recovery.py            # quick: e = 3 end to end, growth of the e = 65537 steps
    python tests/benchmarks/key_recovery.py --full-power   # also time one real s**65537 (about a minute)

The recovery computes gcd(s1**e - m1, s2**e - m2). Its cost is the size of s**e, modulus bits × e:
6,144 bits for e = 3 but 134 million bits for e = 65537 with a 2048-bit key. The script measures the
e = 3 attack as the notebook runs it, then times squaring and gcd at growing sizes and extrapolates
(both are super-linear in CPython: Karatsuba multiplication, quadratic gcd), which is why
`jwtlab.attacks.recover_rsa_public_key` refuses e = 65537 instead of running for hours.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable

from jwtlab import attacks, clock


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-power", action="store_true", help="time one real s**65537 of a 2048-bit s")
    args = parser.parse_args()

    legacy = attacks.small_exponent_demo_key()
    t1 = attacks.legit_token(clock.claims("alice"), key=legacy)
    t2 = attacks.legit_token(clock.claims("bob"), key=legacy)
    elapsed = _timed(lambda: attacks.recover_rsa_public_key(t1, t2, e=3))
    print(f"e = 3, 2048-bit key: recovered in {elapsed * 1000:.1f} ms")

    rng = random.Random(2026)
    target = attacks.recovery_size_bits(2048, 65537)
    print(f"e = 65537, 2048-bit key: s**e has {target:,} bits")
    gcd_times = {}
    for bits in (250_000, 500_000, 1_000_000):
        x, y = rng.getrandbits(bits), rng.getrandbits(bits)
        gcd_times[bits] = _timed(lambda x=x, y=y: math.gcd(x, y))
        print(f"  gcd of two {bits:>9,}-bit numbers: {gcd_times[bits]:7.2f} s")
    hours = gcd_times[1_000_000] * (target / 1_000_000) ** 2 / 3600
    print(f"  quadratic extrapolation to {target:,} bits: about {hours:.0f} hours per gcd")

    s = rng.getrandbits(2048) | 1 << 2047
    value, start = s, time.perf_counter()
    for step in range(1, 17 if args.full_power else 14):
        value = value * value
        print(f"  s**(2**{step:<2}) = {value.bit_length():>11,} bits after {time.perf_counter() - start:6.2f} s")
    if args.full_power:
        value *= s
        print(f"  s**65537 took {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
