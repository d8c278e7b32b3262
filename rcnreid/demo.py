"""The demo: synthetic dataset -> quick training -> evaluation -> CMC table and plot.

``python -m rcnreid.demo [OUT_DIR]`` (or ``rcnreid demo --out OUT_DIR``) runs in a few minutes on
2 CPU cores: it writes a small synthetic iLIDS-VID-like dataset, trains the ``quick``
configuration (small input, few channels) on trial 0's training people, evaluates on its test
people (probe = camera 1, gallery = camera 2, Eq. 5 averaged over the test augmentations), prints
the CMC table and saves the CMC plot (PNG and PDF).
"""
import os
import sys

DEMO_PERSONS = 40


def cmc_table(res, ranks=(1, 5, 10, 20)):
    """A small text table of a result dict's CMC (percent)."""
    cmc = res["cmc"]
    head = "  ".join("rank-%-3d" % r for r in ranks if r <= len(cmc))
    vals = "  ".join("%7.1f%%" % (100.0 * cmc[r - 1]) for r in ranks if r <= len(cmc))
    return "%s  mAP\n%s  %.3f" % (head, vals, res["map"])


def run_demo(out_dir, seed=0, log=print, persons=DEMO_PERSONS, config="quick"):
    """Run the whole pipeline into ``out_dir``; returns the evaluation result dict."""
    from rcnreid.data.synthetic import make_synthetic_h5
    from rcnreid.configs.registry import get_config
    from rcnreid.evaluation.evaluate import evaluate
    from rcnreid.viz.cmc_plot import plot_cmc
    from rcnreid.engine.train import train
    from rcnreid.viz.training_plot import plot_finished_run

    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    data = os.path.join(out_dir, "synthetic-ilidsvid.h5")
    if not os.path.isfile(data):
        log("[1/4] writing a synthetic dataset (%d people, 2 cameras) to %s" % (persons, data))
        make_synthetic_h5(data, layout="ilidsvid", persons=persons, seed=seed)
    else:
        log("[1/4] reusing %s" % data)
    cfg = get_config(config)
    run_dir = os.path.join(out_dir, "run-trial0")
    log("[2/4] training %s for %d epochs into %s" % (cfg.name, cfg.train.epochs, run_dir))
    ckpt = train(data, 0, cfg, run_dir, resume=True, seed=seed, log=log)
    plot_finished_run(run_dir, log)
    log("[3/4] evaluating on the test people of trial 0")
    res_path = os.path.join(out_dir, "cmc-trial0.json")
    res = evaluate(data, ckpt, 0, out_path=res_path, log=log)
    log("[4/4] plotting")
    plots = plot_cmc([("Deep RCN (%s, synthetic)" % cfg.name, res["cmc"])],
                     os.path.join(out_dir, "cmc-trial0"), title="CMC, synthetic data, trial 0")
    log("")
    log(cmc_table(res))
    log("chance rank-1: %.1f%% (%d gallery sequences)" % (100.0 / res["num_gallery"],
                                                           res["num_gallery"]))
    log("")
    log("outputs in %s:" % out_dir)
    for p in [data, ckpt, os.path.join(run_dir, "train_log.jsonl"),
              os.path.join(run_dir, "config.json"), res_path] + plots:
        log("  %s" % p)
    return res


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else "demo-output"
    from rcnreid.errors import exit_status
    return exit_status("rcnreid demo", lambda: run_demo(out))


if __name__ == "__main__":
    sys.exit(main())
