"""Draws docs/batch.png from the batch benchmark's series (`cargo xtask plot-batch`).

usage: python plot_batch.py OUT.png RPM TPM NAME=CSV...

Each CSV is `second,requests,tokens` (what the rate-limited server admitted each second);
the plot shows requests/s and tokens/s over time, with the limits as dashed lines.
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    out, rpm, tpm = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    series = []
    for argument in sys.argv[4:]:
        name, path = argument.split("=", 1)
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
        series.append(
            (
                name,
                [int(row["second"]) for row in rows],
                [int(row["requests"]) for row in rows],
                [int(row["tokens"]) for row in rows],
            )
        )
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, dpi=110)
    for name, seconds, requests, tokens in series:
        top.plot(seconds, requests, label=name, linewidth=1.4)
        bottom.plot(seconds, tokens, label=name, linewidth=1.4)
    top.axhline(rpm / 60, color="black", linestyle="--", linewidth=1, label="limit")
    bottom.axhline(tpm / 60, color="black", linestyle="--", linewidth=1, label="limit")
    top.set_ylabel("requests / s")
    bottom.set_ylabel("tokens / s")
    bottom.set_xlabel("seconds since the start")
    top.set_title(
        "gptproto batch: 5,000 requests against limits enforced per second (W_min = 60 s)"
    )
    top.legend(loc="lower right", fontsize=8)
    top.grid(alpha=0.3)
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out)


if __name__ == "__main__":
    main()
