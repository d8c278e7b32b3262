"""The API examples in the docstrings of these modules run as written (docs/DEVELOPING.md points
to them). None of them compiles a Theano graph, so this stays fast."""
import doctest
import importlib

import pytest

MODULES = ["rcnreid.config_dict", "rcnreid.configs.registry", "rcnreid.evaluation.cmc",
           "rcnreid.data.augment", "rcnreid.engine.epoch_loop", "rcnreid.engine.interrupt",
           "rcnreid.engine.prefetch", "rcnreid.nn.gru_step", "experiments.unit_graph",
           "rcnreid.backend.gpu_conv", "rcnreid.backend.theano_flags",
           "rcnreid.diagnostics.gpu_check"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0, "%s has no examples" % name
    assert res.failed == 0, "%s: %d of %d examples failed" % (name, res.failed, res.attempted)
