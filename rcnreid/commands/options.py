"""Options that several command lines share, defined once (not a command: it has no ``NAME``).

- :func:`add_set_option`: ``--set SECTION.FIELD=VALUE`` (repeatable; ``args.overrides``), read by
  :func:`rcnreid.configs.registry.get_config`: ``rcnreid train``, ``bench``, ``model-summary``
  and the table scripts of ``experiments/``;
- :func:`add_reading_option`: ``--reading default|literal|literal-3x3`` (:mod:`rcnreid.configs.readings`);
- :func:`add_run_folder_options`: ``--out`` and what a resumable run folder takes (``--seed``,
  ``--resume``, ``--epochs``, ``--stop-after``, ``--wait``): both trainers, ``rcnreid train`` and
  ``rcnreid finetune-vgg``.
"""


def add_set_option(p, help="change one field of the configuration, e.g. "
                           "train.optim.learning_rate=0.01 (repeatable)"):
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   dest="overrides", help=help)


def add_reading_option(p, default, help):
    from rcnreid.configs.readings import READINGS
    p.add_argument("--reading", default=default, metavar="|".join(READINGS), help=help)


def add_run_folder_options(p, out_help):
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="stop after N epochs in all without finishing (continue with --resume)")
    p.add_argument("--wait", action="store_true",
                   help="when another process holds the run folder, wait for it instead of "
                        "stopping")
