"""Charts of a bench/run.py results JSON: one PNG per workload, next to the
JSON (NAME-WORKLOAD.png), with the median req/s of every contender in every
cell (concurrency x connection), the min-max over rounds as error bars, and
static's median as a ceiling line over its cell.

    python3 bench/chart.py bench/results/bench-STAMP.json

matplotlib lives in the bench's own venv, bench/.cache/venv-chart (made
from /usr/bin/python3 and pip-installed on first use; --no-fetch refuses
to); this script re-runs itself with that venv's Python.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".cache", "venv-chart")
VPY = os.path.join(VENV, "bin", "python")
MATPLOTLIB = "matplotlib"


def has_matplotlib(python):
    return os.access(python, os.X_OK) and subprocess.run(
        [python, "-c", "import matplotlib"], capture_output=True).returncode == 0


def ensure_venv(fetch):
    if has_matplotlib(VPY):
        return
    if not fetch:
        raise SystemExit("chart: matplotlib is not in %s (fetching disabled)" % VENV)
    print("chart: creating %s with %s" % (VENV, MATPLOTLIB), file=sys.stderr)
    subprocess.run(["/usr/bin/python3", "-m", "venv", VENV], check=True, timeout=300)
    subprocess.run([VPY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    MATPLOTLIB], check=True, timeout=900)


def draw(path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(path) as f:
        result = json.load(f)
    cells = result["cells"]
    contenders = [c for c in result["contenders"] if c != "static"]
    by_workload = {}
    for key in result["order"]:
        w, c, conn = key.split("/")
        by_workload.setdefault(w, []).append(key)
    written = []
    base = os.path.splitext(path)[0]
    for w, keys in by_workload.items():
        fig, ax = plt.subplots(figsize=(max(7, 1.2 + len(keys) * (0.35 * len(contenders) + 0.6)),
                                        4.8))
        width = 0.8 / max(1, len(contenders))
        cmap = plt.get_cmap("tab20")
        for i, name in enumerate(contenders):
            xs, ys, lo, hi = [], [], [], []
            for j, key in enumerate(keys):
                x = cells[key].get(name, {})
                if x.get("rps") is None:
                    continue
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(x["rps"])
                lo.append(x["rps"] - x["rps_min"])
                hi.append(x["rps_max"] - x["rps"])
            if xs:
                ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=name,
                       color=cmap(i % 20), error_kw={"elinewidth": 0.8})
        for j, key in enumerate(keys):
            st = cells[key].get("static", {}).get("rps")
            if st:
                ax.hlines(st, j - 0.45, j + 0.45, colors="black", linestyles="--",
                          label="static (ceiling)" if j == 0 else None)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(["c=%s %s" % (k.split("/")[1][1:], k.split("/")[2])
                            for k in keys])
        ax.set_ylabel("requests/s (median, min–max over %d rounds)"
                      % result["settings"]["rounds"])
        ax.set_title("%s (%s), %s" % (w, result["machine"].get("date", ""),
                                      os.path.basename(path)), fontsize=9)
        ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        out = "%s-%s.png" % (base, w)
        fig.savefig(out, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(out)
    for out in written:
        print(out)


def main(argv):
    args = [a for a in argv if a != "--no-fetch"]
    if len(args) != 1:
        raise SystemExit("usage: bench/chart.py [--no-fetch] RESULTS.json")
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        ensure_venv("--no-fetch" not in argv)
        os.execv(VPY, [VPY, os.path.abspath(__file__)] + argv)
    draw(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
