"""Milliseconds per outer iteration of every method, split into gradient and sampling time.

Run with `make bench` (not part of the tests).  Medians over repeated timings; the machine is shared and
noisy, so compare within one run (the ratio column), not across runs.  As a yardstick, the same exact-MAML
gradient written as a plain per-task Python loop (the obvious implementation) is timed too.
"""
from __future__ import annotations

import platform
import statistics
import timeit

import numpy as np

import gbml

SIZES = {
    "small": dict(d=20, k=3, n=10, m=20),
    "large": dict(d=100, k=5, n=50, m=50),
}


def median_ms(fn, number, repeat=7):
    return 1e3 * statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))


def interleaved_ratio(f, g, number, repeat=101):
    """Time of f over time of g: the median of ``repeat`` ratios of adjacent timings (so both see the same
    load; which one goes first alternates)."""
    ratios = []
    for i in range(repeat):
        pair = (f, g) if i % 2 else (g, f)
        times = {h: timeit.timeit(h, number=number) for h in pair}
        ratios.append(times[f] / times[g])
    return statistics.median(ratios)


def per_task_loop_maml(B, w, tasks, alpha):
    """Exact finite-sample MAML gradient, one task at a time (the yardstick, not the library's code)."""
    gB, gw = np.zeros_like(B), np.zeros_like(w)
    for t in range(tasks.n):
        Xi, yi, Xo, yo = tasks.X_in[t], tasks.y_in[t], tasks.X_out[t], tasks.y_out[t]
        Si = Xi.T @ Xi / len(yi)
        r = Si @ B @ w - Xi.T @ yi / len(yi)
        Bt, wt = B - alpha * np.outer(r, w), w - alpha * B.T @ r
        q = Xo.T @ (Xo @ (Bt @ wt) - yo) / len(yo)
        GB, Gw = np.outer(q, wt), Bt.T @ q
        u = Si @ (GB @ w + B @ Gw)
        gB += GB - alpha * (np.outer(u, w) + np.outer(r, Gw))
        gw += Gw - alpha * (GB.T @ r + B.T @ u)
    return gB / tasks.n, gw / tasks.n


def vectorised_maml(B, w, X_in, y_in, X_out, y_out, alpha):
    """Exact finite-sample MAML gradient, all tasks at once in plain numpy, no argument checks: the reference
    that gbml.meta_gradient (checked, guarded) is held to (within 1.1x)."""
    n, m = y_in.shape
    r = np.einsum("nmd,nm->nd", X_in, X_in @ (B @ w) - y_in) / m  # inner residuals
    w_t = w - alpha * r @ B
    v = w_t @ B.T - alpha * (w_t @ w)[:, None] * r  # B_t w_t
    q = np.einsum("nmd,nm->nd", X_out, np.einsum("nmd,nd->nm", X_out, v) - y_out) / m
    G_w = q @ B - alpha * (r * q).sum(1)[:, None] * w
    u = np.einsum("nmd,nm->nd", X_in, np.einsum("nmd,nd->nm", X_in, (w_t @ w)[:, None] * q + G_w @ B.T)) / m
    gB = (q.T @ w_t - alpha * (np.outer(u.sum(0), w) + r.T @ G_w)) / n
    gw = (G_w - alpha * ((q * r).sum(1)[:, None] * w_t + u @ B)).mean(0)
    return gB, gw


def main():
    table = {m: [] for m in gbml.METHODS}
    print(f"gbml {gbml.__version__}, numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print("ms per outer iteration (median of 7 timings); gradient | sampling the round's tasks\n")
    for size, p in SIZES.items():
        problem = gbml.Problem(p["d"], p["k"], rng=0)
        rng = np.random.default_rng(1)
        B = rng.standard_normal((p["d"], p["k"]))
        w = rng.standard_normal(p["k"])
        pop = problem.sample_round(p["n"], rng)
        smp = problem.sample_round(p["n"], rng, m_in=p["m"], m_out=p["m"])
        sample_pop = median_ms(lambda: problem.sample_round(p["n"], rng), 200)
        sample_smp = median_ms(lambda: problem.sample_round(p["n"], rng, m_in=p["m"], m_out=p["m"]), 50)
        print(f"{size}: d={p['d']} k={p['k']} n={p['n']} m_in=m_out={p['m']}")
        print(f"  {'method':<9} {'population':>12} {'finite samples':>16}")
        for method in gbml.METHODS:
            g_pop = median_ms(lambda: gbml.meta_gradient(method, B, w, pop, 0.1), 300)
            g_smp = median_ms(lambda: gbml.meta_gradient(method, B, w, smp, 0.1), 100)
            print(f"  {method:<9} {g_pop:12.4f} {g_smp:16.4f}")
            table[method] += [g_pop, g_smp]
        print(f"  {'sampling':<9} {sample_pop:12.4f} {sample_smp:16.4f}")
        loop = median_ms(lambda: per_task_loop_maml(B, w, smp, 0.1), 20)
        vec = median_ms(lambda: gbml.meta_gradient("maml", B, w, smp, 0.1), 100)
        assert np.allclose(per_task_loop_maml(B, w, smp, 0.1)[0], gbml.meta_gradient("maml", B, w, smp, 0.1)[0])
        data = smp.X_in, smp.y_in, smp.X_out, smp.y_out
        assert np.allclose(vectorised_maml(B, w, *data, 0.1)[1], gbml.meta_gradient("maml", B, w, smp, 0.1)[1])
        ratio = interleaved_ratio(lambda: gbml.meta_gradient("maml", B, w, smp, 0.1),
                                  lambda: vectorised_maml(B, w, *data, 0.1), number=50 if size == "small" else 5)
        print(f"  exact MAML, finite samples: per-task loop {loop:.3f} ms vs gbml {vec:.3f} ms "
              f"(x{loop / vec:.1f} faster); gbml / a vectorised numpy reference without checks: x{ratio:.2f}\n")
        T = 200
        full = median_ms(lambda: gbml.train("anil", problem, alpha=0.1, beta=0.5, T=T, n_tasks=p["n"], rng=2,
                                            m_in=p["m"], m_out=p["m"]), 1, repeat=3) / T
        print(f"  whole training loop (ANIL, finite samples, with recording): {full:.3f} ms per iteration\n")
    print("Markdown rows for the README (small pop | small samples | large pop | large samples):")
    for method, row in table.items():
        print(f"| {method} | " + " | ".join(f"{v:.3f}" for v in row) + " |")


if __name__ == "__main__":
    main()
