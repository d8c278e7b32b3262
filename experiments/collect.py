"""Rebuild every table (and Fig. 5) from the finished trials, computing nothing.

After SLURM tasks (``make submit``, :mod:`experiments.cluster.submit`) have filled
``<results>/cache/`` -- all or some of them -- run::

    python experiments/collect.py --data real --profile paper --results results

Cells whose trials are not finished yet show how many trials they hold ("7/10") and the rest as
"pending". Same options as the table scripts (``--trials``, ``--data``, ``--profile`` ...).
"""
import sys

from experiments import cli, fig5, runner, table2, table3, table4, table5
from rcnreid.errors import exit_status

TABLES = (("table2", table2.ROWS), ("table3", table3.ROWS), ("table4", table4.ROWS),
          ("table5", table5.ROWS))


def collect(options, log=print):
    """Write every ``<results>/tableN.{md,json}`` and Fig. 5 from the cache; return the reports."""
    import dataclasses
    options = dataclasses.replace(options, collect_only=True, rows=())
    reports = {}
    for table_id, rows in TABLES:
        reports[table_id] = runner.run_table(table_id, rows, options, log=log)
    fig5.after(reports["table5"], options)
    return reports


def main(argv=None):
    parser = cli.build_parser("collect", __doc__.splitlines()[0])
    args = parser.parse_args(argv)
    return exit_status("collect", lambda: collect(cli.options_from_args(args)) and None)


if __name__ == "__main__":
    sys.exit(main())
