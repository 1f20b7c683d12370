"""A readable rendering of the `pls eval` report."""

from __future__ import annotations

from typing import Any


def render_table(report: dict[str, Any]) -> str:
    """The report as an aligned plain-text table."""
    lines = [
        f"train examples      {report['n_train']}",
        f"test messages       {report['n_test']} ({report['n_out_of_scope']} out of scope)",
        f"patterns learned    {report['patterns']}",
        "",
        "coverage at precision",
    ]
    for level, coverage in report["coverage_at_precision"].items():
        lines.append(f"  >= {level}          {coverage:.1%}")
    lines += ["", f"{'':12}{'threshold':>10}{'coverage':>10}{'precision':>11}"]
    for name in ("suggest", "auto"):
        row = report[name]
        lines.append(f"{name:12}{row['threshold']:>10.3f}{row['coverage']:>10.1%}{row['precision']:>11.1%}")
    timing = report["timing"]
    lines += [
        "",
        f"out of scope abstained (auto)  {report['out_of_scope_abstained']:.1%}",
        f"expected calibration error     {report['ece']:.4f}",
        f"learn {timing['learn_s']:.1f} s · match p50 {timing['match_p50_ms']:.1f} ms, "
        f"p99 {timing['match_p99_ms']:.1f} ms · embed p50 {timing['embed_p50_ms']:.1f} ms",
    ]
    return "\n".join(lines)
